"""Style LoRAs through diffusers' PEFT integration: loaded once per style, switched per job.

A kohya-format file (``lora_unet_*`` / ``lora_te_*`` keys, as the catalogue's LoRAs are) is
converted by diffusers on load and kept as a named PEFT adapter next to the others. A job
selects its adapters and weights: the style's, and the turbo tier's few-step LoRA stacked on it.

With ``is_fused`` the selection is fused into the base weights (no LoRA cost per step) and
unfused before the next different selection; the adapters stay loaded beside the weights, so
nothing is read from disk again (fact-reference §8 item 17). Unfusing subtracts what fusing
added, which in float16 leaves rounding behind (0.01 after 200 switches of the tests' LoRAs), so
the weights of every layer a LoRA touches are kept pristine on the CPU and copied back instead.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import WeightsMismatch

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

__all__ = ["TURBO_ADAPTER", "LoraSource", "StyleLoras"]

log = logging.getLogger(__name__)

#: The turbo tier's adapter name; style ids are slugs, so no style's adapter can take it.
TURBO_ADAPTER = "_turbo"

#: A LoRA file, or a function building its state dict (the tiny preset's turbo LoRA).
LoraSource = Path | Callable[[], Mapping[str, Any]]


class StyleLoras:
    """The LoRA adapters living in one base model's UNet and text encoder."""

    def __init__(self, pipe: StableDiffusionPipeline, *, is_fused: bool = False) -> None:
        self._pipe = pipe
        self._is_fused = is_fused
        self._loaded: dict[str, LoraSource] = {}
        self._is_enabled = False
        self._active: tuple[str, float] | None = None
        #: The (adapter, weight) pairs the weights run with now, fused or not.
        self._selection: tuple[tuple[str, float], ...] = ()
        self._fused: tuple[tuple[str, float], ...] = ()
        #: The base weight of every LoRA layer as it was before anything was fused into it, on the CPU.
        self._pristine: dict[torch.Tensor, torch.Tensor] = {}
        self._lock = threading.Lock()

    @property
    def loaded(self) -> tuple[str, ...]:
        return tuple(self._loaded)

    @property
    def active(self) -> tuple[str, float] | None:
        """The style adapter the next denoising runs with and its weight; ``None``: no style LoRA."""
        return self._active

    @property
    def selection(self) -> tuple[tuple[str, float], ...]:
        """Every adapter the next denoising runs with (style, turbo) and its weight."""
        return self._selection

    @property
    def fused(self) -> tuple[tuple[str, float], ...]:
        """The adapters fused into the base weights now (empty: none)."""
        return self._fused

    def activate(self, name: str, path: Path, weight: float, *, turbo: tuple[LoraSource, float] | None = None) -> None:
        """Make adapter ``name`` (loaded from ``path`` on first use) the only style adapter, at ``weight``.

        Parameters
        ----------
        name:
            Adapter name, the style id; one adapter per style.
        path:
            A kohya or diffusers-format LoRA safetensors file.
        weight:
            The LoRA multiplier; 0 leaves the model's output exactly as without it.
        turbo:
            The turbo tier's LoRA and weight, stacked on the style's; ``None``: off.

        Raises
        ------
        WeightsMismatch
            The file is not a LoRA that fits this base model.
        """
        self._select([(name, path, weight)], turbo)

    def deactivate(self, *, turbo: tuple[LoraSource, float] | None = None) -> None:
        """Run without a style LoRA (only the turbo LoRA, if given) until the next ``activate``."""
        self._select([], turbo)

    def _select(self, styles: list[tuple[str, LoraSource, float]], turbo: tuple[LoraSource, float] | None) -> None:
        chosen = styles + ([(TURBO_ADAPTER, *turbo)] if turbo is not None else [])
        with self._lock:
            selection = tuple((name, float(weight)) for name, _, weight in chosen)
            if selection == self._selection and all(self._loaded.get(n) == source for n, source, _ in chosen):
                return
            self._unfuse()
            for name, source, _ in chosen:
                if name not in self._loaded:
                    self._load(name, source)
                elif self._loaded[name] != source:
                    # The style now points at another file: drop the old adapter and load the new one.
                    self._pipe.delete_adapters([name])
                    del self._loaded[name]
                    self._load(name, source)
            if not selection:
                if self._loaded and self._is_enabled:
                    self._pipe.disable_lora()
                self._is_enabled = False
            else:
                if not self._is_enabled:
                    self._pipe.enable_lora()
                    self._is_enabled = True
                self._pipe.set_adapters([name for name, _ in selection], adapter_weights=[w for _, w in selection])
                if self._is_fused:
                    self._keep_pristine({name for name, _ in selection})
                    with warnings.catch_warnings():
                        # A component none of the adapters touches (the text encoder under the turbo LoRA).
                        warnings.filterwarnings("ignore", message="Already unmerged", category=UserWarning)
                        self._pipe.fuse_lora(adapter_names=[name for name, _ in selection])
                    self._fused = selection
            self._selection = selection
            self._active = next(((n, w) for n, w in selection if n != TURBO_ADAPTER), None)

    def _lora_layers(self) -> list[Any]:
        from peft.tuners.tuners_utils import BaseTunerLayer

        models = (self._pipe.unet, self._pipe.text_encoder)
        return [module for model in models for module in model.modules() if isinstance(module, BaseTunerLayer)]

    def _keep_pristine(self, names: set[str]) -> None:
        for layer in self._lora_layers():
            weight = layer.get_base_layer().weight
            if weight not in self._pristine and names & set(layer.lora_A):
                self._pristine[weight] = weight.detach().to("cpu", copy=True)

    def _unfuse(self) -> None:
        if not self._fused:
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Already unmerged", category=UserWarning)
            self._pipe.unfuse_lora()
        with torch.no_grad():
            for weight, pristine in self._pristine.items():
                weight.copy_(pristine)
        self._fused = ()

    def _load(self, name: str, source: LoraSource) -> None:
        log.info("loading LoRA %s from %s", name, source)
        try:
            with warnings.catch_warnings():
                # PEFT warns when a second adapter joins the model; several side by side is the design.
                warnings.filterwarnings("ignore", message="Already found a `peft_config`", category=UserWarning)
                weights = str(source) if isinstance(source, Path) else dict(source())
                self._pipe.load_lora_weights(weights, adapter_name=name)
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            self._drop_partial(name)
            raise WeightsMismatch(f"LoRA {name} ({source}) does not fit the base model: {exc}") from exc
        self._loaded[name] = source
        # A freshly loaded adapter is active; the caller's set_adapters picks what runs.
        self._is_enabled = True

    def _drop_partial(self, name: str) -> None:
        """Remove whatever a failed load left behind, so later jobs never run half an adapter."""
        try:
            if any(name in names for names in self._pipe.get_list_adapters().values()):
                self._pipe.delete_adapters([name])
        except (ValueError, KeyError) as exc:
            log.warning("could not remove the half-loaded LoRA %s: %s", name, exc)
