"""``runtime.compile``: the UNet under torch.compile, style LoRAs hot-swapped into it without a recompile (CPU, tiny)."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

from fact_runtime.catalog import load_styles
from fact_runtime.config import RuntimeConfig
from fact_runtime.loading.hotswap import HotSwapLoras
from fact_runtime.loading.stack import ModelStack
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.request import PortraitRequest
from tests.test_lora_fusion import _unet_output
from tests.tiny_stack import write_kohya_lora, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(root, *, compile: bool) -> RuntimeConfig:
    return RuntimeConfig(
        preset="tiny",
        compile=compile,
        cache_dir=root / "cache",
        styles_dir=root / "styles",
        generation={"width": 64, "height": 64, "num_inference_steps": 2},
        speed={"turbo": {"steps": 2}, "is_lora_fused": False},
    )


@pytest.fixture(scope="module")
def styles(tmp_path_factory):
    root = tmp_path_factory.mktemp("compile")
    loras = root / "styles" / "loras"
    write_kohya_lora(loras / "one.safetensors", seed=4)
    # Another rank: swapped into the slot zero-padded.
    write_kohya_lora(loras / "two.safetensors", seed=5, rank=2)
    write_style(root / "styles", "one", lora="loras/one.safetensors", weight=1.0)
    write_style(root / "styles", "two", lora="loras/two.safetensors", weight=0.7)
    write_style(root / "styles", "plain")
    return root


def test_style_switches_do_not_recompile_the_unet(styles, astronaut_png) -> None:
    torch._dynamo.reset()
    config = _config(styles, compile=True)
    engine = FactEngine(config, load_styles(config.styles_dir))

    def portrait(style: str, speed: str = "original") -> None:
        request = PortraitRequest(user_id="u", selfie=astronaut_png, style_id=style, seed=1, speed=speed)
        assert len(engine.run(request, lambda *args: None).images) == 1

    portrait("one")
    assert isinstance(engine.stack.base("tiny").loras, HotSwapLoras)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1  # it did compile
    with torch._dynamo.config.patch(error_on_recompile=True):
        for style in ("two", "plain", "one", "two"):
            portrait(style)
    assert counters["stats"]["unique_graphs"] == graphs
    # The turbo slot changes the UNet's layers once, and the turbo tier runs without CFG (another
    # batch size): each tier compiles once more; then styles switch under either without another.
    portrait("one", "turbo")
    portrait("one")
    with torch._dynamo.config.patch(error_on_recompile=True):
        for style in ("two", "plain", "one"):
            portrait(style, "turbo")
            portrait(style)


def test_a_hot_swapped_lora_gives_what_the_lora_loaded_alone_gives(styles) -> None:
    one, two = styles / "styles" / "loras" / "one.safetensors", styles / "styles" / "loras" / "two.safetensors"
    eager = ModelStack(_config(styles / "e", compile=False))
    eager.load()
    eager.base("tiny").loras.activate("two", two, 0.7)
    # The slots without compiling: the swap itself is what is compared.
    swapped = ModelStack(_config(styles / "s", compile=False))
    swapped.load()
    base = swapped.base("tiny")
    base.loras = HotSwapLoras(base.text2img, max_rank=8)
    base.loras.activate("one", one, 1.0)
    base.loras.activate("two", two, 0.7)
    expected = _unet_output(eager.base("tiny"))
    assert torch.allclose(_unet_output(base), expected, atol=1e-5)
    base.loras.deactivate()
    eager.base("tiny").loras.deactivate()
    assert torch.allclose(_unet_output(base), _unet_output(eager.base("tiny")), atol=1e-6)
