"""Upscale and vary against the base portrait: UNet steps and wall time; and the live preview's cost per step.

Run: ``python bench/follow_ups.py [--repeats 3] [--side 16] [--threads 1]``.

1. Tiny preset (64 px portraits, 20 steps): FactEngine.run of a portrait, a 2x upscale of it and a
   subtle (0.3) and strong (0.6) variation; UNet calls counted with a forward hook, wall time median.
2. Full-size SD1.5 UNet (random weights; speed does not depend on the values), FACT installed, one
   CFG step (batch 2) at latent side ``--side`` (the portrait) and twice it (the 2x upscale), on CPU.
   A job's UNet time is its steps times that: portrait 50 steps, upscale int(50 x 0.4) at 2x side,
   variations int(50 x 0.3) and int(50 x 0.6). VAE and face stages are not in these figures.
3. The preview: (1, 4, 64, 64) latents (a 512 px image) to a 128 px JPEG by the linear projection
   and through a tiny autoencoder of TAESD's size, and a step when no preview is due (one clock
   read), against the measured step times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe_machine
from fact_runtime.catalog import StyleCatalog
from fact_runtime.fact import SD15_UNET_CONFIG, TOKENS_PER_FACE, install_fact
from fact_runtime.pipelines import FactEngine
from fact_runtime.pipelines.preview import PreviewThrottle, decoded_to_rgb, encode_jpeg, latents_to_rgb
from fact_runtime.request import JobRequest, PortraitRequest, UpscaleRequest, VaryRequest
from tests.tiny_stack import tiny_config, write_style

STEPS = 50
TEXT_TOKENS = 77


def median_s(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tiny_jobs(repeats: int) -> float:
    """Print the tiny preset's figures; return its mean UNet call time (for the preview's share)."""
    from skimage import data

    from tests.tiny_stack import png_bytes

    with tempfile.TemporaryDirectory() as folder:
        config = tiny_config(Path(folder), num_inference_steps=20)
        config = config.model_copy(update={"images": config.images.model_copy(update={"min_side": 32})})
        write_style(config.styles_dir, "plain")
        catalog = StyleCatalog.from_config(config)
        catalog.reload()
        engine = FactEngine(config, catalog)
        engine.warm_up()
        unet = engine.stack.base("tiny").text2img.unet
        calls = [0]
        unet.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
        selfie = png_bytes(data.astronaut())
        portrait = PortraitRequest("bench", selfie, "plain", seed=1)
        parent = engine.run(portrait, lambda *_: None).images[0].png
        jobs: list[tuple[str, JobRequest]] = [
            ("portrait 64 px", portrait),
            ("upscale 2x -> 128 px", UpscaleRequest("bench", parent, selfie, "plain", seed=1)),
            ("vary 0.3", VaryRequest("bench", parent, selfie, "plain", strength=0.3, seed=2)),
            ("vary 0.6", VaryRequest("bench", parent, selfie, "plain", strength=0.6, seed=2)),
        ]
        print("tiny preset, 20 steps (pndm), fusion and ranking on:")
        base_s = None
        for name, request in jobs:
            calls[0] = 0
            engine.run(request, lambda *_: None)
            unet_calls = calls[0]
            seconds = median_s(lambda request=request: engine.run(request, lambda *_: None), repeats)
            base_s = base_s or seconds
            print(f"  {name:22s} UNet calls {unet_calls:3d}   wall {seconds * 1000:7.1f} ms   x{seconds / base_s:.2f}")
        latents = torch.randn(2, 4, 8, 8)
        states = torch.randn(2, TEXT_TOKENS + TOKENS_PER_FACE, unet.config.cross_attention_dim)
        with torch.inference_mode():
            return median_s(lambda: unet(latents, torch.tensor(500), encoder_hidden_states=states), repeats * 5)


def full_size_steps(side: int, repeats: int) -> dict[int, float]:
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel(**SD15_UNET_CONFIG).eval()
    install_fact(unet, scale=1.0)
    states = torch.randn(2, TEXT_TOKENS + TOKENS_PER_FACE, 768)
    steps: dict[int, float] = {}
    for latent_side in (side, 2 * side):
        latents = torch.randn(2, 4, latent_side, latent_side)
        with torch.inference_mode():
            unet(latents, torch.tensor(500), encoder_hidden_states=states)  # warm-up
            steps[latent_side] = median_s(
                lambda latents=latents: unet(latents, torch.tensor(500), encoder_hidden_states=states), repeats
            )
    portrait = STEPS * steps[side]
    print(
        f"full-size SD1.5 UNet + FACT, CPU, one CFG step: {side * 8} px {steps[side]:.2f} s, "
        f"{side * 16} px {steps[2 * side]:.2f} s (x{steps[2 * side] / steps[side]:.2f})"
    )
    for name, count, latent_side in (
        (f"portrait {side * 8} px", STEPS, side),
        (f"upscale 2x -> {side * 16} px (0.4)", int(STEPS * 0.4), 2 * side),
        ("vary 0.3", int(STEPS * 0.3), side),
        ("vary 0.6", int(STEPS * 0.6), side),
    ):
        seconds = count * steps[latent_side]
        print(f"  {name:28s} UNet steps {count:3d}   UNet time {seconds:7.1f} s   x{seconds / portrait:.2f}")
    return steps


def preview_cost(repeats: int, step_times: dict[str, float]) -> None:
    latents = torch.randn(1, 4, 64, 64)
    project = median_s(lambda: encode_jpeg(latents_to_rgb(latents, side=128)), repeats * 20)
    throttle = PreviewThrottle(lambda _: None, interval_s=3600.0, side=128)
    idle = median_s(lambda: [throttle(latents) for _ in range(1000)], repeats) / 1000
    size = len(encode_jpeg(latents_to_rgb(latents, side=128)))
    print(
        f"preview: one 128 px JPEG ({size} bytes) from 512 px latents {project * 1000:.2f} ms; "
        f"a step with none due {idle * 1e6:.2f} us"
    )
    from diffusers import AutoencoderTiny

    taesd = AutoencoderTiny().eval()  # TAESD's architecture, random weights
    decode = median_s(lambda: encode_jpeg(decoded_to_rgb(taesd, latents, side=128)), repeats * 5)
    print(f"  through a tiny autoencoder (TAESD's size) {decode * 1000:.1f} ms")
    interval = 5.0
    for name, step_s in step_times.items():
        for way, cost in (("linear", project), ("TAESD", decode)):
            every_step = cost / step_s
            per_interval = idle / step_s + cost / interval
            print(
                f"  vs {name} step {step_s * 1000:9.1f} ms, {way}: a preview every step +{every_step:.2%}; "
                f"one per {interval:g} s +{per_interval:.3%} per step"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--side", type=int, default=16, help="portrait latent side of the full-size part (16 = 128 px)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0 = torch's default)")
    parser.add_argument("--skip-full", action="store_true", help="only the tiny preset and the preview")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    np.random.seed(0)
    print(describe_machine())
    step_times = {"tiny 64 px": tiny_jobs(args.repeats)}
    if not args.skip_full:
        steps = full_size_steps(args.side, args.repeats)
        step_times |= {f"full-size {side * 8} px": seconds for side, seconds in steps.items()}
    preview_cost(args.repeats, step_times)


if __name__ == "__main__":
    main()
