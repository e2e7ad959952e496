"""What a style LoRA costs per UNet step, unfused and fused: rank 32 on every attention and feed-forward layer.

Run: ``python bench/lora_overhead.py [--side 16] [--repeats 3] [--threads 1]``. A full-size SD1.5
UNet with random weights (CPU, fp32, batch 2 = one image with CFG) at small latents, timed bare,
with the LoRA running beside the weights through PEFT, and with it fused into the weights (what
``speed.is_lora_fused`` does per job). Rounds alternate the order so load drift favours none.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe_machine
from fact_runtime.fact import SD15_UNET_CONFIG

TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2"]


def step_seconds(unet: UNet2DConditionModel, latents: torch.Tensor, states: torch.Tensor) -> float:
    """Process CPU seconds of one UNet call (steadier than wall time on a shared machine)."""
    with torch.inference_mode():
        start = time.process_time()
        unet(latents, torch.tensor(500), encoder_hidden_states=states)
        return time.process_time() - start


def main() -> None:
    from peft import LoraConfig
    from peft.tuners.tuners_utils import BaseTunerLayer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=16, help="latent side (16 = 128 px images)")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD15_UNET_CONFIG).eval()
    unet.add_adapter(LoraConfig(r=args.rank, lora_alpha=args.rank, target_modules=TARGETS, init_lora_weights=False))
    layers = [module for module in unet.modules() if isinstance(module, BaseTunerLayer)]
    latents, states = torch.randn(2, 4, args.side, args.side), torch.randn(2, 77, 768)
    print(describe_machine())
    print(
        f"setup: SD1.5 UNet fp32 CPU, batch 2, latents {args.side}x{args.side}, LoRA rank {args.rank} on "
        f"{len(layers)} layers ({', '.join(TARGETS)}), {args.repeats} interleaved rounds after a warm-up"
    )

    def bare() -> None:
        unet.disable_adapters()

    def unfused() -> None:
        unet.enable_adapters()

    def fused() -> None:
        unet.enable_adapters()
        for layer in layers:
            layer.merge()

    runs: dict[str, list[float]] = {"bare": [], "unfused": [], "fused": []}
    setups = {"bare": bare, "unfused": unfused, "fused": fused}
    with torch.inference_mode():
        outputs = {}
        for name, setup in setups.items():
            setup()
            outputs[name] = unet(latents, torch.tensor(500), encoder_hidden_states=states).sample
            for layer in layers:
                if layer.merged:
                    layer.unmerge()
    lora_effect = (outputs["unfused"] - outputs["bare"]).abs().max().item()
    fusion_error = (outputs["fused"] - outputs["unfused"]).abs().max().item()
    print(f"check: the LoRA changes the output by {lora_effect:.3g}; fused differs from unfused by {fusion_error:.3g}")
    for round_index in range(args.repeats):
        order = list(runs) if round_index % 2 == 0 else list(reversed(runs))
        for name in order:
            setups[name]()
            runs[name].append(step_seconds(unet, latents, states))
            for layer in layers:
                if layer.merged:
                    layer.unmerge()
    base = statistics.median(runs["bare"])
    for name, values in runs.items():
        median = statistics.median(values)
        print(f"{name:<8} CPU median {median:6.3f} s per step  ({100 * (median / base - 1):+.1f} % against bare)")


if __name__ == "__main__":
    main()
