"""Orchestration cost: a tiny-preset job through ``FactEngine.run`` against a bare diffusers call.

Both sides use the same FACT-equipped pipeline, size, steps, scheduler, batch and prompt
embeddings (77 text tokens + 16 face tokens). The bare side is only ``pipe(...)`` with those
embeddings ready-made; the engine side is the whole job: decode, face detection, identity
crop, face tokens (cached after the first job, as a reroll), style/LoRA switch, prompt
encoding, denoising with progress callbacks, fusion, ranking and PNG encoding. Runs are
interleaved and the median of each is reported, all in one process.

    python bench/orchestration.py [--size 128] [--steps 10] [--count 2] [--repeats 15] [--threads 1]
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

import torch
from PIL import Image
from skimage import data

from bench.machine import describe_machine
from fact_runtime.catalog import load_styles
from fact_runtime.config import RuntimeConfig
from fact_runtime.pipelines.diffusion import encode_face_prompt
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.pipelines.stages import face_tokens
from fact_runtime.request import PortraitRequest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--count", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a shared box)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    folder = Path(tempfile.mkdtemp())
    (folder / "plain.yaml").write_text(
        'id: plain\nname: Plain\nbase_model: majicmix\nprompt: "a portrait photo of {subject}, best quality"\n'
    )
    generation = {"width": args.size, "height": args.size, "num_inference_steps": args.steps, "max_batch": args.count}
    config = RuntimeConfig(preset="tiny", styles_dir=folder, generation=generation)
    engine = FactEngine(config, load_styles(folder))
    engine.warm_up()
    photo = data.astronaut()
    request = PortraitRequest(user_id="bench", selfie=_png(photo), style_id="plain", count=args.count, seed=1)

    # First job: fills the face-token cache, loads dlib models; reported separately.
    start = time.perf_counter()
    first = engine.run(request, lambda *a: None)
    first_wall = time.perf_counter() - start

    # The bare call: same pipe, same embeddings, same generators.
    style = engine.catalog.get("plain")
    base = engine.stack.base(style.base_model)
    selfie = engine.selfies.analyse(request.selfie)
    tokens = face_tokens(base, selfie, engine.stack.device)
    pipe = base.text2img
    positive, negative = encode_face_prompt(pipe, style.compose_prompt(), style.negative_prompt, tokens)

    def bare() -> None:
        generators = [torch.Generator().manual_seed(1 + i) for i in range(args.count)]
        with torch.inference_mode():
            pipe(
                prompt_embeds=positive,
                negative_prompt_embeds=negative,
                num_images_per_prompt=args.count,
                generator=generators,
                width=args.size,
                height=args.size,
                num_inference_steps=args.steps,
                guidance_scale=config.generation.guidance_scale,
                output_type="np",
            )

    bare()  # warm
    runs: dict[str, list[float]] = {"bare": [], "reroll": [], "new selfie": [], "reroll - post": []}
    stages: list[dict[str, float]] = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        bare()
        runs["bare"].append(time.perf_counter() - start)
        start = time.perf_counter()
        result = engine.run(request, lambda *a: None)
        runs["reroll"].append(time.perf_counter() - start)
        stages.append(dict(result.timings))
        post = sum(result.timings.get(name, 0.0) for name in ("detect", "fusion", "rank"))
        runs["reroll - post"].append(runs["reroll"][-1] - post)
        # Same pixels, different bytes: a selfie the engine has not analysed yet.
        fresh = dataclasses.replace(request, selfie=_png(photo, level=repeat % 9 + 1, tag=repeat))
        start = time.perf_counter()
        engine.run(fresh, lambda *a: None)
        runs["new selfie"].append(time.perf_counter() - start)

    stage_s = {name: statistics.median(t.get(name, 0.0) for t in stages) for name in stages[0]}
    print(describe_machine())
    print(
        f"job: tiny preset, {args.count} image(s) of {args.size}x{args.size}, {args.steps} "
        f"{config.generation.scheduler} steps, CFG {config.generation.guidance_scale}; "
        f"{args.repeats} interleaved repeats"
    )
    # Each engine run is compared with the bare call made just before it (same load on a shared
    # machine); the median of those paired ratios is the figure to read.
    print(f"{'':38}{'median':>10}{'min':>10}{'vs bare (paired median)':>26}")
    rows = (
        ("bare", "bare diffusers call"),
        ("reroll - post", "FactEngine.run without post-steps"),
        ("reroll", "FactEngine.run, same selfie"),
        ("new selfie", "FactEngine.run, new selfie"),
    )
    for name, label in rows:
        median, fastest = statistics.median(runs[name]), min(runs[name])
        paired = statistics.median(t / b - 1 for t, b in zip(runs[name], runs["bare"], strict=True))
        print(f"{label:38}{median * 1000:8.1f}ms{fastest * 1000:8.1f}ms{paired * 100:+25.1f}%")
    print(f"{'FactEngine.run, first job':38}{first_wall * 1000:8.1f}ms   (loads the dlib models)")
    print("post-steps = face detection on each result (shared by fusion and ranking), fusion, ranking")
    print("reroll stages (median ms): " + ", ".join(f"{k} {v * 1000:.1f}" for k, v in stage_s.items()))
    print("first job stages (ms):     " + ", ".join(f"{k} {v * 1000:.1f}" for k, v in first.timings.items()))


def _png(rgb, *, level: int = 6, tag: int = 0) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(rgb)
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("bench", str(tag))
    image.save(buffer, format="PNG", compress_level=level, pnginfo=text)
    return buffer.getvalue()


if __name__ == "__main__":
    main()
