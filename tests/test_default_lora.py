"""The default LoRA: styles without a LoRA of their own run with it at their weight, as the original does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fact_runtime.catalog import load_styles
from fact_runtime.config import ModelRef, load_runtime_config
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.pipelines.stages import DEFAULT_LORA_ADAPTER, NO_LORA_NOTE
from fact_runtime.request import PortraitRequest
from tests.tiny_stack import decode_png, tiny_config, write_kohya_lora, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[1]


def _engine(root: Path, default_lora: ModelRef) -> FactEngine:
    models = load_runtime_config(REPO / "config.yaml").models.model_copy(update={"default_lora": default_lora})
    config = tiny_config(root, is_face_fusion_enabled=False, is_ranking_enabled=False)
    config = config.model_copy(update={"models": models})
    styles = config.styles_dir
    write_style(styles, "own", lora="loras/default.safetensors", weight=0.7)
    write_style(styles, "plain")
    (styles / "weighted.yaml").write_text(
        (styles / "plain.yaml").read_text().replace("id: plain", "id: weighted") + "lora:\n  weight: 0.7\n"
    )
    (styles / "bare.yaml").write_text(
        (styles / "plain.yaml").read_text().replace("id: plain", "id: bare") + "is_default_lora_enabled: false\n"
    )
    return FactEngine(config, load_styles(styles))


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FactEngine:
    root = tmp_path_factory.mktemp("default-lora")
    lora = write_kohya_lora(root / "styles" / "loras" / "default.safetensors", seed=6)
    return _engine(root, ModelRef(path=lora))


def _portrait(engine: FactEngine, style_id: str, selfie: bytes) -> tuple[np.ndarray, tuple[str, ...]]:
    request = PortraitRequest(user_id="u", selfie=selfie, style_id=style_id, seed=3)
    result = engine.run(request, lambda *args: None)
    return decode_png(result.images[0].png), result.notes


def test_a_style_without_a_lora_runs_with_the_default_lora_at_its_weight(engine, astronaut_png) -> None:
    loras = engine.stack.base("majicmix").loras
    weighted, notes = _portrait(engine, "weighted", astronaut_png)
    assert loras.active == (DEFAULT_LORA_ADAPTER, 0.7) and notes == ()
    # The same file as the style's own LoRA at the same weight gives the same picture.
    own, _ = _portrait(engine, "own", astronaut_png)
    assert loras.active == ("own", 0.7)
    assert np.array_equal(weighted, own)
    # No weight given: the default LoRA at the default weight.
    plain, _ = _portrait(engine, "plain", astronaut_png)
    assert loras.active == (DEFAULT_LORA_ADAPTER, 0.35)
    assert not np.array_equal(plain, weighted)
    # Opted out: the base model as it is.
    bare, notes = _portrait(engine, "bare", astronaut_png)
    assert loras.active is None and notes == ()
    assert not np.array_equal(bare, plain)


def test_the_tiny_preset_says_when_the_default_lora_cannot_apply(tmp_path, astronaut_png) -> None:
    hub_lora = load_runtime_config(REPO / "config.yaml").models.default_lora
    engine = _engine(tmp_path, hub_lora)
    _, notes = _portrait(engine, "weighted", astronaut_png)
    assert notes == (NO_LORA_NOTE,) and engine.stack.base("majicmix").loras.active is None
    assert "without its LoRA" in engine.lora_note("weighted")
    assert engine.lora_note("bare") is None
    _, notes = _portrait(engine, "bare", astronaut_png)
    assert notes == ()
