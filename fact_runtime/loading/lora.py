"""Style LoRAs through diffusers' PEFT integration: loaded once per style, switched per job.

A kohya-format file (``lora_unet_*`` / ``lora_te_*`` keys, as the catalogue's LoRAs are) is
converted by diffusers on load and kept as a named PEFT adapter next to the others. A job only
selects its adapter and weight; nothing is fused into the base weights, so nothing has to be
restored from disk afterwards (fact-reference §8 item 17).
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import WeightsMismatch

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

__all__ = ["StyleLoras"]

log = logging.getLogger(__name__)


class StyleLoras:
    """The LoRA adapters living in one base model's UNet and text encoder."""

    def __init__(self, pipe: StableDiffusionPipeline) -> None:
        self._pipe = pipe
        self._loaded: dict[str, Path] = {}
        self._is_enabled = False
        self._active: tuple[str, float] | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> tuple[str, ...]:
        return tuple(self._loaded)

    @property
    def active(self) -> tuple[str, float] | None:
        """The adapter the next denoising runs with and its weight; ``None``: the base model as it is."""
        return self._active

    def activate(self, name: str, path: Path, weight: float) -> None:
        """Make adapter ``name`` (loaded from ``path`` on first use) the only active one, at ``weight``.

        Parameters
        ----------
        name:
            Adapter name, the style id; one adapter per style.
        path:
            A kohya or diffusers-format LoRA safetensors file.
        weight:
            The LoRA multiplier; 0 leaves the model's output exactly as without it.

        Raises
        ------
        WeightsMismatch
            The file is not a LoRA that fits this base model.
        """
        with self._lock:
            if name not in self._loaded:
                self._load(name, path)
            elif self._loaded[name] != path:
                # The style now points at another file: drop the old adapter and load the new one.
                self._pipe.delete_adapters([name])
                del self._loaded[name]
                self._load(name, path)
            if not self._is_enabled:
                self._pipe.enable_lora()
                self._is_enabled = True
            self._pipe.set_adapters([name], adapter_weights=[float(weight)])
            self._active = (name, float(weight))

    def deactivate(self) -> None:
        """Run the base model as it is (no LoRA) until the next ``activate``."""
        with self._lock:
            if self._loaded and self._is_enabled:
                self._pipe.disable_lora()
            self._is_enabled = False
            self._active = None

    def _load(self, name: str, path: Path) -> None:
        log.info("loading style LoRA %s from %s", name, path)
        try:
            with warnings.catch_warnings():
                # PEFT warns when a second adapter joins the model; several side by side is the design.
                warnings.filterwarnings("ignore", message="Already found a `peft_config`", category=UserWarning)
                self._pipe.load_lora_weights(str(path), adapter_name=name)
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            self._drop_partial(name)
            raise WeightsMismatch(f"style LoRA {name} ({path}) does not fit the base model: {exc}") from exc
        self._loaded[name] = path
        # A freshly loaded adapter is active; the caller's set_adapters picks what runs.
        self._is_enabled = True

    def _drop_partial(self, name: str) -> None:
        """Remove whatever a failed load left behind, so later jobs never run half an adapter."""
        try:
            if any(name in names for names in self._pipe.get_list_adapters().values()):
                self._pipe.delete_adapters([name])
        except (ValueError, KeyError) as exc:
            log.warning("could not remove the half-loaded LoRA %s: %s", name, exc)
