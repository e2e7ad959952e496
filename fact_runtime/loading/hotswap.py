"""LoRAs on a compiled UNet: fixed adapter slots whose weights are swapped in place, so a style switch never recompiles.

``torch.compile`` guards on the module structure and on every Python number the forward reads.
Adding, fusing or re-weighting adapters the usual way changes one or the other and recompiles
the UNet. Here the UNet gets two slots once (the style's and the turbo tier's); a style switch
copies the new LoRA's weights into the style slot (diffusers' hot-swap, padded to
``speed.lora_rank_limit``) and a weight or an on/off switch writes into the slots' scaling
tensors. Each LoRA's state dict is read from disk once and kept on the CPU.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import WeightsMismatch
from .lora import TURBO_ADAPTER, LoraSource

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

__all__ = ["STYLE_SLOT", "HotSwapLoras"]

log = logging.getLogger(__name__)

#: The adapter every style's LoRA is swapped into.
STYLE_SLOT = "_style"


class HotSwapLoras:
    """The style and turbo LoRA slots of one compiled base model; the same interface as ``StyleLoras``."""

    def __init__(self, pipe: StableDiffusionPipeline, *, max_rank: int) -> None:
        self._pipe = pipe
        # Before the first adapter loads: later ones of any rank up to max_rank then swap in place.
        pipe.enable_lora_hotswap(target_rank=max_rank, check_compiled="ignore")
        self._weights: dict[Path, Mapping[str, torch.Tensor]] = {}
        #: What each slot holds: (source, its weight); ``None``: the slot is empty or switched off.
        self._slots: dict[str, tuple[LoraSource, float] | None] = {}
        self._style: tuple[str, float] | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> tuple[str, ...]:
        return tuple(self._slots)

    @property
    def active(self) -> tuple[str, float] | None:
        return self._style

    @property
    def selection(self) -> tuple[tuple[str, float], ...]:
        turbo = self._slots.get(TURBO_ADAPTER)
        return (*([self._style] if self._style else []), *([(TURBO_ADAPTER, turbo[1])] if turbo else []))

    @property
    def fused(self) -> tuple[tuple[str, float], ...]:
        return ()

    def activate(self, name: str, path: Path, weight: float, *, turbo: tuple[LoraSource, float] | None = None) -> None:
        """Swap the style's LoRA into the style slot at ``weight`` (and set the turbo slot); see ``StyleLoras.activate``."""
        with self._lock:
            self._set(STYLE_SLOT, (path, float(weight)))
            self._set(TURBO_ADAPTER, turbo)
            self._style = (name, float(weight))

    def deactivate(self, *, turbo: tuple[LoraSource, float] | None = None) -> None:
        with self._lock:
            self._set(STYLE_SLOT, None)
            self._set(TURBO_ADAPTER, turbo)
            self._style = None

    def _set(self, slot: str, choice: tuple[LoraSource, float] | None) -> None:
        current = self._slots.get(slot)
        if choice is None:
            if current is not None and current[1] != 0.0:
                self._slots[slot] = (current[0], 0.0)
                self._apply_scales()
            return
        if current is not None and current == choice:
            return
        if current is None or current[0] != choice[0]:
            self._load(slot, choice[0], is_swap=slot in self._slots)
        self._slots[slot] = choice
        self._apply_scales()

    def _state_dict(self, source: LoraSource) -> dict[str, Any]:
        if not isinstance(source, Path):
            return dict(source())
        if source not in self._weights:
            from safetensors.torch import load_file

            self._weights[source] = load_file(str(source))
        # A copy: diffusers pops keys while converting a kohya file.
        return dict(self._weights[source])

    def _layers(self) -> list[Any]:
        from peft.tuners.lora import LoraLayer

        models = (self._pipe.unet, self._pipe.text_encoder)
        return [module for model in models for module in model.modules() if isinstance(module, LoraLayer)]

    def _text_layers(self) -> list[Any]:
        from peft.tuners.lora import LoraLayer

        return [module for module in self._pipe.text_encoder.modules() if isinstance(module, LoraLayer)]

    def _load(self, slot: str, source: LoraSource, *, is_swap: bool) -> None:
        log.info("%s LoRA %s into slot %s", "swapping" if is_swap else "loading", source, slot)
        pipe, text_encoder = self._pipe, self._pipe.text_encoder
        try:
            weights, alphas, metadata = pipe.lora_state_dict(self._state_dict(source), return_lora_metadata=True)
            if is_swap:
                self._swap_into_unet(slot, weights, alphas or {})
            else:
                pipe.load_lora_into_unet(
                    weights, alphas, pipe.unet, adapter_name=slot, _pipeline=pipe, metadata=metadata
                )
            # Diffusers cannot hot-swap into a text encoder; it is not compiled, so its part of
            # the slot is replaced instead (from the LoRA kept in memory).
            if slot in getattr(text_encoder, "peft_config", {}):
                from diffusers.utils.peft_utils import delete_adapter_layers

                delete_adapter_layers(text_encoder, slot)
            pipe.load_lora_into_text_encoder(
                weights, alphas, text_encoder, adapter_name=slot, _pipeline=pipe, metadata=metadata
            )
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            raise WeightsMismatch(f"LoRA {source} cannot go into the compiled UNet's {slot} slot: {exc}") from exc
        # Each layer's alpha / rank for the slot's first LoRA (later ones fold theirs into the weights).
        for layer in self._layers():
            units = layer.__dict__.setdefault("_fact_unit_scale", {})
            if slot in layer.scaling and (slot not in units or not is_swap or layer in self._text_layers()):
                units[slot] = float(layer.scaling[slot])
        if not is_swap:
            # Both slots stay active from now on; switching one off zeroes its scale instead.
            names = [name for name in (STYLE_SLOT, TURBO_ADAPTER) if name in self._slots or name == slot]
            self._pipe.set_adapters(names, adapter_weights=[1.0] * len(names))

    def _swap_into_unet(self, slot: str, weights: Mapping[str, torch.Tensor], alphas: Mapping[str, Any]) -> None:
        """Copy a LoRA's UNet weights into ``slot``'s tensors in place (zero-padded to the slot's rank).

        Each layer's alpha / rank is folded into its up-projection, relative to the scale the slot
        was loaded with; layers the LoRA does not touch get zeros.

        Raises
        ------
        ValueError
            The LoRA touches a layer the slot does not have, or its rank exceeds the slot's.
        """
        from diffusers.utils import convert_unet_state_dict_to_peft

        unet_weights = {key.removeprefix("unet."): value for key, value in weights.items() if key.startswith("unet.")}
        peft = convert_unet_state_dict_to_peft(unet_weights)
        alpha_of = {
            name: float(alpha)
            for name, alpha in convert_unet_state_dict_to_peft(
                {
                    key.removeprefix("unet.").removesuffix(".alpha"): torch.tensor(float(value))
                    for key, value in alphas.items()
                    if key.startswith("unet.")
                }
            ).items()
        }
        touched: set[str] = set()
        with torch.no_grad():
            for key, down in peft.items():
                if not key.endswith(".lora_A.weight"):
                    continue
                module_name = key.removesuffix(".lora_A.weight")
                layer = self._pipe.unet.get_submodule(module_name)
                if slot not in getattr(layer, "lora_A", {}):
                    raise ValueError(f"it touches {module_name}, which the first LoRA of the slot did not")
                up = peft[f"{module_name}.lora_B.weight"]
                rank = down.shape[0]
                slot_down, slot_up = layer.lora_A[slot].weight, layer.lora_B[slot].weight
                if rank > slot_down.shape[0]:
                    raise ValueError(f"its rank {rank} exceeds the slot's {slot_down.shape[0]} (speed.lora_rank_limit)")
                unit = layer.__dict__["_fact_unit_scale"][slot]
                scale = alpha_of.get(key, rank) / rank / unit
                slot_down.zero_()[:rank] = down.to(slot_down)
                slot_up.zero_()[:, :rank] = up.to(slot_up) * scale
                touched.add(module_name)
            for name, layer in self._pipe.unet.named_modules():
                if name not in touched and slot in getattr(layer, "lora_A", {}):
                    layer.lora_A[slot].weight.zero_()
                    layer.lora_B[slot].weight.zero_()

    def _apply_scales(self) -> None:
        """Every slot's scale = its LoRA's alpha / rank x its weight (0 when off), written into tensors in place."""
        with torch.no_grad():
            for layer in self._layers():
                for slot, unit in layer.__dict__.get("_fact_unit_scale", {}).items():
                    choice = self._slots.get(slot)
                    value = unit * (choice[1] if choice is not None else 0.0)
                    current = layer.scaling.get(slot)
                    if isinstance(current, torch.Tensor):
                        current.fill_(value)
                    else:
                        # A tensor is read by the compiled graph; a Python number would be guarded on.
                        layer.scaling[slot] = torch.tensor(value, device=layer.lora_A[slot].weight.device)
