"""``python -m fact_runtime portrait|inpaint`` with the tiny preset, in-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fact_runtime.__main__ import main
from tests.tiny_stack import decode_png, png_bytes, side_by_side, write_kohya_lora, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def workspace(tmp_path: Path, astronaut_png: bytes) -> Path:
    """A config for the tiny preset at 64 px, a styles folder with a local LoRA, and a selfie."""
    styles = tmp_path / "styles"
    write_kohya_lora(styles / "loras" / "film.safetensors", seed=3)
    write_style(styles, "filmic", lora="loras/film.safetensors", weight=0.8)
    (tmp_path / "config.yaml").write_text(
        "runtime:\n  preset: tiny\n  styles_dir: styles\n  cache_dir: cache\n"
        "  generation: {width: 64, height: 64, num_inference_steps: 2}\n",
        encoding="utf-8",
    )
    (tmp_path / "selfie.png").write_bytes(astronaut_png)
    return tmp_path


def _args(workspace: Path, *extra: str) -> list[str]:
    paths = ["--selfie", str(workspace / "selfie.png"), "--config", str(workspace / "config.yaml")]
    return [*extra, *paths, "-o", str(workspace / "out")]


def test_portrait_writes_one_png_per_image_named_by_style_and_seed(workspace, capsys) -> None:
    status = main(["portrait", *_args(workspace, "--style", "filmic", "-n", "2", "--seed", "40")])
    assert status == 0
    files = sorted(path.name for path in (workspace / "out").iterdir())
    assert files == ["filmic-seed40.png", "filmic-seed41.png"]
    assert decode_png((workspace / "out" / files[0]).read_bytes()).shape == (64, 64, 3)
    assert "filmic-seed40.png" in capsys.readouterr().out


def test_inpaint_writes_images_of_the_template_size(workspace, astronaut_rgb, grace_hopper_rgb, monkeypatch) -> None:
    # The invisible watermark touches every pixel; without it the other face must come back exactly.
    monkeypatch.setenv("FACT_RUNTIME__PROVENANCE__IS_WATERMARK_ENABLED", "false")
    template = side_by_side(astronaut_rgb, grace_hopper_rgb)
    (workspace / "pair.png").write_bytes(png_bytes(template))
    template_args = ("--template", str(workspace / "pair.png"), "--face", "2", "--seed", "3")
    status = main(["inpaint", *_args(workspace, *template_args)])
    assert status == 0
    output = decode_png((workspace / "out" / "inpaint-pair-face2-seed3.png").read_bytes())
    assert output.shape == template.shape
    assert np.array_equal(output[:, :512], template[:, :512])
    # --recipe fast overrides the config's recipe: one pass, another picture of the same face.
    status = main(["inpaint", *_args(workspace, *template_args, "--recipe", "fast")])
    assert status == 0
    fast = decode_png((workspace / "out" / "inpaint-pair-face2-seed3.png").read_bytes())
    assert fast.shape == template.shape and not np.array_equal(fast, output)


def test_a_refused_selfie_prints_its_sentence_and_exits_2(workspace, capsys) -> None:
    (workspace / "selfie.png").write_bytes(png_bytes(np.full((300, 300, 3), 90, dtype=np.uint8)))
    status = main(["portrait", *_args(workspace, "--style", "filmic")])
    assert status == 2
    assert "No face was found" in capsys.readouterr().err
    assert not (workspace / "out").exists()


def test_an_unknown_style_exits_2_with_its_sentence(workspace, capsys) -> None:
    assert main(["portrait", *_args(workspace, "--style", "nope")]) == 2
    assert capsys.readouterr().err == (
        "error: There is no style called 'nope'; `python -m fact_runtime styles` lists them.\n"
    )


def test_bad_yaml_in_the_config_names_the_file(workspace, capsys) -> None:
    (workspace / "config.yaml").write_text("runtime: [unclosed\n", encoding="utf-8")
    assert main(["portrait", *_args(workspace, "--style", "filmic")]) == 2
    assert "config.yaml: not valid YAML" in capsys.readouterr().err


def test_bad_yaml_in_a_style_names_the_file(workspace, capsys) -> None:
    (workspace / "styles" / "broken.yaml").write_text("id: broken\nname: [oops\n", encoding="utf-8")
    assert main(["portrait", *_args(workspace, "--style", "filmic")]) == 2
    assert "broken.yaml" in capsys.readouterr().err


def test_a_missing_model_says_which_and_how_to_fetch_it(workspace, capsys) -> None:
    # The shipped config (full preset), an empty cache, and --offline: nothing may be fetched.
    config = Path("config.yaml").read_text(encoding="utf-8").replace("cache_dir: cache/models", "cache_dir: empty")
    config = config.replace("styles_dir: styles", f"styles_dir: {Path('styles').absolute()}")
    (workspace / "config.yaml").write_text(config, encoding="utf-8")
    status = main(["portrait", *_args(workspace, "--style", "astronaut", "--offline")])
    assert status == 2
    err = capsys.readouterr().err
    assert "TransFace-S face model" in err and "is missing" in err and "python -m fact_runtime download" in err


def _full_offline_workspace(workspace: Path) -> None:
    """The shipped config (full preset) with an empty cache: any model load would fail, and say so."""
    config = Path("config.yaml").read_text(encoding="utf-8").replace("cache_dir: cache/models", "cache_dir: empty")
    config = config.replace("styles_dir: styles", f"styles_dir: {Path('styles').absolute()}")
    (workspace / "config.yaml").write_text(config, encoding="utf-8")


def test_a_style_is_found_by_its_name_in_any_case(workspace, capsys) -> None:
    write_style(workspace / "styles", "rainy-night")  # named "Rainy-Night"
    assert main(["portrait", *_args(workspace, "--style", "RAINY-night", "--seed", "1")]) == 0
    assert (workspace / "out" / "rainy-night-seed1.png").is_file()
    assert "error" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "sentence"),
    [
        (("--style", "astronaut", "--selfie-is-text"), "That file is not a supported image"),
        (("--style", "no-such-style"), "There is no style called 'no-such-style'"),
        (("--style", "astronaut", "-n", "9"), "You can ask for 1 to 4 images at a time."),
    ],
)
def test_inputs_are_refused_before_any_model_loads(workspace, capsys, extra, sentence) -> None:
    _full_offline_workspace(workspace)
    if "--selfie-is-text" in extra:
        (workspace / "selfie.png").write_text("not a photo")
        extra = tuple(arg for arg in extra if arg != "--selfie-is-text")
    status = main(["portrait", *_args(workspace, *extra, "--offline")])
    err = capsys.readouterr().err
    # The models are missing; being told about the input instead shows it was checked first.
    assert status == 2 and sentence in err and "is missing" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


def test_a_face_number_past_the_templates_faces_is_refused_before_the_models_load(workspace, capsys) -> None:
    _full_offline_workspace(workspace)
    (workspace / "one-face.png").write_bytes((workspace / "selfie.png").read_bytes())
    template = ("--template", str(workspace / "one-face.png"), "--face", "2", "--offline")
    assert main(["inpaint", *_args(workspace, *template)]) == 2
    err = capsys.readouterr().err
    assert "error: The template has 1 face; pick a face number from 1 to 1." in err and "is missing" not in err


def test_an_unreachable_hub_stops_a_portrait_with_one_line(workspace, capsys) -> None:
    _full_offline_workspace(workspace)
    assert main(["portrait", *_args(workspace, "--style", "astronaut")]) == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "cannot reach ModelScope at http://127.0.0.1:9 " in line and "Traceback" not in err


def test_previews_are_rendered_once_per_style_and_found_by_the_catalogue(workspace, capsys) -> None:
    from fact_runtime import load_styles

    (workspace / "config.yaml").write_text(
        f"runtime:\n  preset: tiny\n  styles_dir: styles\n  templates_dir: {Path('templates').absolute()}\n"
        "  generation: {width: 64, height: 64, num_inference_steps: 2}\n",
        encoding="utf-8",
    )
    args = ["previews", "--config", str(workspace / "config.yaml"), "--style", "Filmic"]
    assert main(args) == 0  # no --selfie: the public-domain astronaut template sits for it
    preview = workspace / "styles" / "previews" / "filmic.png"
    assert decode_png(preview.read_bytes()).shape == (64, 64, 3)
    assert load_styles(workspace / "styles").get("filmic").preview == preview.resolve()
    capsys.readouterr()
    assert main(args) == 0  # it has one now: nothing is rendered again
    assert "every chosen style has a preview already" in capsys.readouterr().out


def test_reference_photos_join_the_selfie_and_a_refused_one_is_named(workspace, astronaut_rgb, capsys) -> None:
    from tests.identity_photos import mirrored, zoomed

    (workspace / "mirrored.png").write_bytes(png_bytes(mirrored(astronaut_rgb)))
    (workspace / "zoomed.png").write_bytes(png_bytes(zoomed(astronaut_rgb)))
    references = ("--reference", str(workspace / "mirrored.png"), "--reference", str(workspace / "zoomed.png"))
    assert main(["portrait", *_args(workspace, "--style", "filmic", "--seed", "5", *references)]) == 0
    assert (workspace / "out" / "filmic-seed5.png").exists()
    (workspace / "blank.png").write_bytes(png_bytes(np.full((300, 300, 3), 90, dtype=np.uint8)))
    assert main(["portrait", *_args(workspace, "--style", "filmic", "--reference", str(workspace / "blank.png"))]) == 2
    assert "Photo 2: No face was found" in capsys.readouterr().err
