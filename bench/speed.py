"""Speed tiers: UNet evaluations per portrait, seconds and their ratio to ``original``, for each tier.

Run: ``python bench/speed.py [--json]`` (tiny preset, CPU, 64 px, the configured 50 steps of the
original recipe). UNet evaluations are counted by a hook on the UNet, per image (a call with
classifier-free guidance evaluates two); ``full_unet_evals`` counts those that ran the deep
blocks (the fast tier reuses them in between). ``--full-size`` builds the real SD1.5, ControlNet
and FACT architectures with random weights (``bench/full_size.py``) and runs 512 px portraits at
batch 1 and 4 in float16 and bfloat16 (CUDA; ``--device cpu --size 64`` tries it on a CPU), with
and without compile and fused LoRAs. ``--likeness`` (real weights from config.yaml) also reports
each tier's identity distance to the selfie over the built-in photos.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe_machine
from fact_runtime.catalog import load_styles
from fact_runtime.config import RuntimeConfig, load_runtime_config
from fact_runtime.loading.registry import missing_models
from fact_runtime.loading.tiny import build_tiny_turbo_lora
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.request import PortraitRequest

TIERS = ("original", "fast", "turbo")


def photos() -> list[bytes]:
    """The built-in face photos as PNG bytes: skimage's astronaut, matplotlib's Grace Hopper."""
    import matplotlib.cbook
    import skimage.data
    from PIL import Image

    arrays = [skimage.data.astronaut(), np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")))]
    out = []
    for array in arrays:
        buffer = io.BytesIO()
        Image.fromarray(array).convert("RGB").save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def write_styles(folder: Path, *, is_full_size: bool) -> None:
    """One style with a LoRA: rank 32 on every attention and feed-forward layer at full size, the tiny shape otherwise."""
    from safetensors.torch import save_file

    from bench.full_size import full_size_lora

    lines = [
        "id: bench",
        "name: Bench",
        "base_model: majicmix",
        'prompt: "a portrait photo of {subject}, best quality"',
    ]
    lora = full_size_lora(seed=7, rank=32) if is_full_size else build_tiny_turbo_lora(seed=7)
    save_file(lora, str(folder / "style.safetensors"))
    lines += ["lora:", "  path: style.safetensors", "  weight: 0.8"]
    (folder / "bench.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


class EvalCounter:
    """UNet evaluations (batch rows) and how many of them ran the deep blocks, counted by forward pre-hooks."""

    def __init__(self, unet: torch.nn.Module) -> None:
        self.rows = self.deep_rows = 0
        self.hooks = [
            unet.conv_in.register_forward_pre_hook(self._count),
            unet.mid_block.resnets[0].register_forward_pre_hook(self._count_deep),
        ]

    def remove(self) -> None:
        for hook in self.hooks:
            hook.remove()

    def _count(self, _module: Any, args: tuple) -> None:
        self.rows += args[0].shape[0]

    def _count_deep(self, _module: Any, args: tuple) -> None:
        self.deep_rows += args[0].shape[0]


def measure(engine: FactEngine, tier: str, selfie: bytes, *, count: int, repeats: int) -> dict[str, Any]:
    """One warm-up job (its time is the first call's, compile included), then ``repeats`` timed ones."""
    counter = EvalCounter(engine.stack.base("bench").text2img.unet)
    device = engine.stack.device
    request = PortraitRequest(user_id="bench", selfie=selfie, style_id="bench", seed=1, count=count, speed=tier)
    start = time.perf_counter()
    engine.run(request, lambda *args: None)
    first = time.perf_counter() - start
    counter.rows = counter.deep_rows = 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    walls, denoises = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        result = engine.run(request, lambda *args: None)
        walls.append(time.perf_counter() - start)
        denoises.append(result.timings["denoise"])
    counter.remove()
    images = repeats * count
    figures: dict[str, Any] = {
        "unet_evals": counter.rows / images,
        "full_unet_evals": counter.deep_rows / images,
        "seconds": statistics.median(walls) / count,
        "denoise_seconds": statistics.median(denoises) / count,
        "first_call_seconds": first,
    }
    plan = engine.portrait.stack.config.speed
    steps = {"original": engine.config.generation.num_inference_steps, "fast": plan.fast.steps}
    figures["steps"] = steps.get(tier, plan.turbo.steps)
    figures["it_per_s"] = figures["steps"] / figures["denoise_seconds"] / count
    if device.type == "cuda":
        figures["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    if result.images[0].identity_distance is not None:
        figures["identity_distance"] = statistics.mean(image.identity_distance or 0.0 for image in result.images)
    return figures


def with_ratios(tiers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    base = tiers.get("original")
    for figures in tiers.values():
        if base:
            figures["unet_evals_ratio"] = figures["unet_evals"] / base["unet_evals"]
            figures["seconds_ratio"] = figures["seconds"] / base["seconds"]
            figures["denoise_ratio"] = figures["denoise_seconds"] / base["denoise_seconds"]
    return tiers


def make_engine(args: argparse.Namespace, folder: Path, *, dtype: str, compile: bool, fused: bool) -> FactEngine:
    settings: dict[str, Any] = {
        "preset": "tiny",
        "device": args.device,
        "dtype": dtype,
        "compile": compile,
        "cache_dir": folder / "cache",
        "styles_dir": folder,
        "generation": {"width": args.size, "height": args.size, "num_inference_steps": args.steps, "max_batch": 4},
        "speed": {"is_lora_fused": fused, "allowed": list(args.tiers)},
    }
    config = RuntimeConfig.model_validate(settings)
    engine = FactEngine(config, load_styles(folder))
    if args.full_size:
        from bench.full_size import full_size_stack

        engine = FactEngine(config, load_styles(folder), stack=full_size_stack(config))
    engine.warm_up()
    return engine


def run_tiers(args: argparse.Namespace, engine: FactEngine, selfie: bytes, count: int) -> dict[str, dict[str, Any]]:
    return with_ratios({tier: measure(engine, tier, selfie, count=count, repeats=args.repeats) for tier in args.tiers})


def likeness(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Each tier's mean identity distance to the selfie over the built-in photos, with the configured real models."""
    config = load_runtime_config(args.config)
    missing = missing_models(config)
    if missing:
        sys.exit(f"--likeness needs the real weights: run `python -m fact_runtime download` ({missing[0]} is missing)")
    catalog = load_styles(config.styles_dir)
    engine = FactEngine(config, catalog)
    engine.warm_up()
    style = args.style or catalog.all()[0].id
    out: dict[str, dict[str, Any]] = {}
    for tier in args.tiers:
        distances = []
        for photo in photos():
            request = PortraitRequest(user_id="bench", selfie=photo, style_id=style, seed=1, count=2, speed=tier)
            result = engine.run(request, lambda *args: None)
            distances += [image.identity_distance for image in result.images if image.identity_distance is not None]
        out[tier] = {"identity_distance": statistics.mean(distances) if distances else None}
    return out


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--tiers", nargs="+", choices=TIERS, default=list(TIERS))
    parser.add_argument("--steps", type=int, default=50, help="the original recipe's steps (default 50)")
    parser.add_argument("--size", type=int, help="image side (default 64; 512 with --full-size)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--full-size", action="store_true", help="real SD1.5/ControlNet/FACT sizes, random weights")
    parser.add_argument("--dtypes", nargs="+", default=["float16", "bfloat16"], help="with --full-size on CUDA")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4], help="images per job with --full-size")
    parser.add_argument("--likeness", action="store_true", help="identity distance per tier (real weights)")
    parser.add_argument("--config", type=Path, default=Path("config.yaml"), help="with --likeness")
    parser.add_argument("--style", help="with --likeness: the style id (default: the first)")
    args = parser.parse_args(argv)
    args.size = args.size or (512 if args.full_size else 64)
    if args.threads:
        torch.set_num_threads(args.threads)
    selfie = photos()[0]
    report: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        write_styles(folder, is_full_size=args.full_size)
        if not args.full_size:
            engine = make_engine(args, folder, dtype="auto", compile=False, fused=True)
            report["tiers"] = run_tiers(args, engine, selfie, 1)
        else:
            report.update(full_size(args, folder, selfie))
    if args.likeness:
        for tier, figures in likeness(args).items():
            report.setdefault("tiers", {}).setdefault(tier, {}).update(figures)
    report["setup"] = {"size": args.size, "steps": args.steps, "full_size": args.full_size}
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


def full_size(args: argparse.Namespace, folder: Path, selfie: bytes) -> dict[str, Any]:
    """Every dtype at every batch (compile off, LoRAs fused); then compile on, and unfused, at the first dtype, batch 1.

    One model build per (dtype, compile, fused): the batches share it.
    """
    is_cuda = torch.cuda.is_available() and args.device in ("auto", "cuda")
    dtypes = args.dtypes if is_cuda else ["float32"]
    builds = [(dtype, False, True, args.batches) for dtype in dtypes]
    builds += [(dtypes[0], True, True, [1]), (dtypes[0], False, False, [1])] if is_cuda else []
    runs = []
    for dtype, compile, fused, batches in builds:
        engine = make_engine(args, folder, dtype=dtype, compile=compile, fused=fused)
        for batch in batches:
            tiers = run_tiers(args, engine, selfie, batch)
            runs.append({"dtype": dtype, "batch": batch, "compile": compile, "fused_lora": fused, "tiers": tiers})
        del engine
        if is_cuda:
            torch.cuda.empty_cache()
    return {"tiers": runs[0]["tiers"], "runs": runs}


def table(report: dict[str, Any]) -> str:
    setup = report.get("setup", {})
    lines = [describe_machine(), f"setup: {setup}"]
    for run in report.get("runs", [{"dtype": "", "batch": 1, "compile": False, "tiers": report.get("tiers", {})}]):
        lines.append(
            f"-- {run['dtype']} batch {run['batch']} compile {run['compile']} fused {run.get('fused_lora', True)}"
        )
        lines.append(
            f"{'tier':<9} {'evals/img':>9} {'full':>6} {'ratio':>6} {'s/img':>8} {'ratio':>6} {'denoise':>8} "
            f"{'ratio':>6} {'it/s':>7} {'first':>7}"
        )
        for tier, f in run["tiers"].items():
            if "unet_evals" not in f:
                continue
            lines.append(
                f"{tier:<9} {f['unet_evals']:9.1f} {f['full_unet_evals']:6.1f} {f.get('unet_evals_ratio', 1):6.3f} "
                f"{f['seconds']:8.3f} {f.get('seconds_ratio', 1):6.3f} {f['denoise_seconds']:8.3f} "
                f"{f.get('denoise_ratio', 1):6.3f} {f['it_per_s']:7.1f} {f['first_call_seconds']:7.2f}"
                + (f"  peak {f['peak_gib']:.2f} GiB" if "peak_gib" in f else "")
            )
    for tier, f in report.get("tiers", {}).items():
        if f.get("identity_distance") is not None:
            lines.append(f"likeness {tier}: identity distance {f['identity_distance']:.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
