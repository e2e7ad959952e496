"""Inpainting recipes: the original's five passes against the fast one-pass recipe.

Two figures. (1) Wall time of a whole ``/inpaint`` job through ``FactEngine.run`` on the tiny
preset, each recipe on the same selfie, template and seed, runs interleaved, medians reported.
(2) The UNet steps each recipe makes at full-size settings (50 PNDM steps on SD1.5's scheduler
config, inpainting strength 0.6, refinement 0.1), counted the way diffusers schedules them, with
the original app's own count (its two zero-mask passes included) beside ours; at full size the
UNet steps are what the time is made of, so their ratio is the expected cost ratio.

    python bench/inpaint_recipes.py [--size 128] [--steps 20] [--count 1] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from PIL import Image
from skimage import data

from bench.machine import describe_machine
from fact_runtime.catalog import load_styles
from fact_runtime.config import GenerationConfig, RuntimeConfig
from fact_runtime.loading.resident import make_scheduler
from fact_runtime.loading.tiny import SD15_SCHEDULER_CONFIG
from fact_runtime.pipelines.diffusion import count_steps
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.pipelines.inpaint_stages import REFINE_STRENGTH
from fact_runtime.request import InpaintRequest

#: The original app's zero-mask "auto" passes run at strength 0.025, once after each inpainting pass.
_AUTO_STRENGTH = 0.025


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="working square of the tiny runs")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps of the tiny runs")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a shared box)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    folder = Path(tempfile.mkdtemp())
    generation = {"width": args.size, "height": args.size, "num_inference_steps": args.steps}
    config = RuntimeConfig(preset="tiny", styles_dir=folder, templates_dir=folder, generation=generation)
    engine = FactEngine(config, load_styles(folder))
    engine.warm_up()
    photo = data.astronaut()
    request = InpaintRequest(
        user_id="bench", selfie=_png(photo), template=_png(_template(photo)), count=args.count, seed=1
    )
    recipes = {name: dataclasses.replace(request, recipe=name) for name in ("original", "fast")}
    for job in recipes.values():  # warm: dlib models, ControlNets, pipelines, face tokens
        engine.run(job, lambda *a: None)

    walls: dict[str, list[float]] = {name: [] for name in recipes}
    steps: dict[str, int] = {}
    stages: dict[str, list[dict[str, float]]] = {name: [] for name in recipes}
    for _ in range(args.repeats):
        for name, job in recipes.items():
            seen: list[int] = []
            start = time.perf_counter()
            result = engine.run(job, lambda stage, step=0, total=0, seen=seen: seen.append(total))
            walls[name].append(time.perf_counter() - start)
            steps[name] = max(seen)
            stages[name].append(dict(result.timings))

    print(describe_machine())
    print(
        f"tiny preset: /inpaint job, {args.count} image(s), working square {args.size}x{args.size}, "
        f"{args.steps} pndm steps, {args.repeats} interleaved repeats"
    )
    print(f"{'':30}{'median':>10}{'min':>10}{'UNet steps':>12}")
    for name in recipes:
        print(f"{name + ' recipe':30}{statistics.median(walls[name]) * 1000:8.1f}ms"
              f"{min(walls[name]) * 1000:8.1f}ms{steps[name]:>12}")  # fmt: skip
    paired = statistics.median(o / f for o, f in zip(walls["original"], walls["fast"], strict=True))
    print(f"original / fast wall time (paired median): {paired:.2f}x")
    for name in recipes:
        medians = {key: statistics.median(t.get(key, 0.0) for t in stages[name]) for key in stages[name][0]}
        print(f"{name} stages (median ms): " + ", ".join(f"{k} {v * 1000:.1f}" for k, v in medians.items()))

    print()
    _print_full_size_steps()


def _print_full_size_steps() -> None:
    defaults = GenerationConfig()
    scheduler = make_scheduler("pndm", SD15_SCHEDULER_CONFIG)
    total = defaults.num_inference_steps

    def steps(strength: float = 1.0) -> int:
        return count_steps(scheduler, total, strength=strength)

    passes = {
        "pose pass (text-to-image)": steps(),
        f"ControlNet inpaint ({defaults.inpaint_strength})": steps(defaults.inpaint_strength),
        f"refinement ({REFINE_STRENGTH})": steps(REFINE_STRENGTH),
    }
    ours = sum(passes.values())
    auto = 2 * steps(_AUTO_STRENGTH)
    fast = steps(defaults.inpaint_strength)
    print(
        f"full-size settings: {total} pndm steps on SD1.5's scheduler config, per image; each step is one UNet call "
        f"on a CFG batch of 2 (original recipe: plus 1 ControlNet in the pose pass, 2 in the others)"
    )
    for name, count in passes.items():
        print(f"  original recipe, {name:30}{count:>4} UNet steps")
    print(f"  {'original recipe, ours':47}{ours:>4} UNet steps")
    print(f"  {'original app (+ 2 zero-mask passes)':47}{ours + auto:>4} UNet steps")
    print(f"  {'fast recipe (one inpainting pass)':47}{fast:>4} UNet steps")
    print(f"ratio original / fast: {ours / fast:.2f}x (original app / fast: {(ours + auto) / fast:.2f}x)")


def _template(photo: np.ndarray) -> np.ndarray:
    """The photo on a wider black canvas: a template whose face is not centred."""
    height, width = photo.shape[:2]
    canvas = np.zeros((height, width + width // 2, 3), dtype=np.uint8)
    canvas[:, width // 2 :] = photo
    return canvas


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


if __name__ == "__main__":
    main()
