"""``python -m fact_runtime styles|templates|check-weights`` and the runtime CLI's start-up failures, as processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from fact_runtime.__main__ import main
from tests.cli import REPO, cli_env, run_cli


def test_styles_lists_ids_names_and_base_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["styles", "--config", str(REPO / "config.yaml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "name", "base", "model", "LoRA"]
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert len(rows) == len(list((REPO / "styles").glob("*.yaml"))) == 75
    assert rows["cheongsam"].split()[:3] == ["cheongsam", "Cheongsam", "majicmix"]
    assert lines[-1] == "75 of 75 styles in " + str(REPO / "styles") + "; use one with --style ID (or its name)"


def test_styles_filters_by_a_query_and_says_when_nothing_matches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["styles", "cowboy"]) == 0
    found = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:-1]]
    assert found == ["cowboy", "desert-cowboy"]
    assert main(["styles", "zzzz"]) == 2
    assert capsys.readouterr().err == "error: no style matches 'zzzz'; run without a query to list all 75\n"


def test_templates_lists_the_built_in_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[:-1]] == ["astronaut", "grace-hopper", "two-pioneers"]


@pytest.mark.parametrize(
    ("content", "what"), [(b"just some notes\n", "text"), (b"\xff\xd8\xff\xe0JFIF", "a JPEG image")]
)
def test_check_weights_refuses_a_file_that_is_not_a_checkpoint_in_one_sentence(
    tmp_path: Path, content: bytes, what: str
) -> None:
    wrong = tmp_path / "adapter.ckpt"
    wrong.write_bytes(content)
    done = run_cli("fact_runtime", "check-weights", "--adapter", str(wrong))
    assert done.returncode == 2 and "Traceback" not in done.stderr and "weights_only" not in done.stderr
    assert done.stderr.strip() == (
        f"error: FACT adapter: {wrong}: not a PyTorch checkpoint ({what}); give the .ckpt or .pt weight file"
    )


def test_check_weights_without_files_names_the_configured_ones_that_are_not_downloaded(tmp_path: Path) -> None:
    done = run_cli("fact_runtime", "check-weights", env=cli_env(FACT_RUNTIME__CACHE_DIR=str(tmp_path)))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("error: FACT adapter for majicmix: ModelScope yucheng1996/FaceChain-FACT@v1.0.0")


def test_the_runtime_cli_refuses_a_bad_setting_and_missing_weights_in_one_line(tmp_path: Path) -> None:
    bad = run_cli("fact_runtime", "download", env=cli_env(FACT_RUNTIME__QUEUE__MAX_QUEUED="none"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == (
        "error: FACT_RUNTIME__QUEUE__MAX_QUEUED (environment): runtime.queue.max_queued: "
        "Input should be a valid integer, unable to parse string as an integer"
    )
    env = cli_env(FACT_RUNTIME__CACHE_DIR=str(tmp_path / "empty"))
    args = ("--selfie", "templates/astronaut.jpg", "--style", "cheongsam", "--offline", "-o", str(tmp_path))
    missing = run_cli("fact_runtime", "portrait", *args, env=env)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    (line,) = [line for line in missing.stderr.splitlines() if line.startswith("error:")]
    assert "is missing: it is not in the cache and the registry is offline" in line
    assert "python -m fact_runtime download" in line


def test_a_portrait_on_a_terminal_shows_its_stages_and_the_steps_asked_for_and_no_library_noise(tmp_path: Path) -> None:
    # Cheongsam's prompt is longer than CLIP's 77 tokens, and its LoRA cannot apply to the tiny models:
    # both used to reach the terminal, the second twice.
    args = ("--selfie", "templates/astronaut.jpg", "--style", "Cheongsam", "--seed", "1", "-o", str(tmp_path))
    done = run_cli("fact_runtime", "portrait", *args, "--preset", "tiny", "--size", "64", "--steps", "10")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "cheongsam-seed1.png")
    err = done.stderr
    for noise in ("INFO", "WARNING", "[transformers]", "truncated", "Token indices", "Traceback", ": : 0step"):
        assert noise not in err, noise
    assert "10/10" in err and "11/" not in err  # PNDM's repeated timestep is not an extra step
    lines = [line.split("\r")[-1] for line in err.splitlines()]
    assert [
        line for line in lines if line.startswith(("finding the face...", "reading the features...", "finishing..."))
    ]
    assert sum("LoRA" in line for line in lines) == 1 and any(line.startswith("note: ") for line in lines)
