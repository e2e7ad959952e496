"""A group photo's follow-ups against the group job itself: UNet calls and wall time, per recipe.

Run: ``python bench/group_follow_ups.py [--repeats 3] [--threads 1]``.

Tiny preset (random weights of the real architectures; 64 px working squares, 20 steps a pass),
the built-in ``two-pioneers`` template (2224x1200 after a 2x upscale) with two saved members (the
astronaut and Grace Hopper, from the packages). For each recipe (original, fast): the group job,
then a 2x upscale and a subtle (0.3) and strong (0.6) variation of its image, which repaint only
the two faces. UNet calls counted with a forward hook on the inpainting base's UNet (the
original recipe's img2img passes run on the same UNet); wall time is the median of the repeats.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe_machine
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.request import GroupRequest
from tests.group_tiny import group_engine, let_run, saved_members
from tests.tiny_stack import png_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from matplotlib import cbook
    from PIL import Image
    from skimage import data

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = png_bytes(np.asarray(Image.open(handle).convert("RGB")))
    print(describe_machine())
    with tempfile.TemporaryDirectory() as folder:
        engine = group_engine(Path(folder), num_inference_steps=20)
        members = saved_members(engine, png_bytes(data.astronaut()), hopper)
        unet = engine.stack.inpaint_base().text2img.unet
        calls = [0]
        unet.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
        for recipe in ("original", "fast"):
            group = GroupRequest("bench", members, template_id="two-pioneers", seed=1, recipe=recipe)
            parent = engine.run(group, let_run).images[0].png
            jobs = [
                ("group job", group),
                ("upscale 2x", dataclasses.replace(group, start=parent, scale=2)),
                ("vary 0.3", dataclasses.replace(group, start=parent, strength=0.3, seed=2)),
                ("vary 0.6", dataclasses.replace(group, start=parent, strength=0.6, seed=2)),
            ]
            print(f"recipe {recipe}, tiny preset, 20 steps a pass, two faces:")
            base_s = None
            for name, request in jobs:
                calls[0] = 0
                engine.run(request, let_run)
                unet_calls = calls[0]
                seconds = statistics.median(_timed(engine, request) for _ in range(args.repeats))
                base_s = base_s or seconds
                print(f"  {name:12s} UNet calls {unet_calls:3d}   wall {seconds:6.2f} s   x{seconds / base_s:.2f}")


def _timed(engine: FactEngine, request: GroupRequest) -> float:
    start = time.perf_counter()
    engine.run(request, let_run)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
