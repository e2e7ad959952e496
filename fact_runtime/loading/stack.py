"""The model stack: the one owner of every model of the runtime, loaded once and kept on the device.

Base models (each SD1.5 base with its own FACT adapter, sharing one TransFace-S) and dlib's face
models are resident; each ControlNet loads on the first job that needs it, the
OpenPose annotator on the first pose *photo*; the optional safety checker loads first of all,
so a configured but missing checker fails before gigabytes of base models load.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelMissing
from .device import resolve_device, resolve_dtype
from .face_models import FaceModels
from .lora import LoraSource
from .on_demand import (
    ControlKind,
    LoadedSafetyChecker,
    load_controlnet,
    load_pose_annotator,
    load_preview_decoder,
    load_safety_checker,
)
from .registry import ModelRegistry, describe_ref
from .resident import ResidentBase

if TYPE_CHECKING:
    from diffusers import ControlNetModel

    from ..config import ModelRef, RuntimeConfig
    from ..pose import BodyPoseEstimator

__all__ = ["ModelStack"]

log = logging.getLogger(__name__)


class ModelStack:
    """Every model of the runtime, loaded once on the worker thread and kept on the device."""

    def __init__(self, config: RuntimeConfig, *, is_offline: bool = False) -> None:
        self.config = config
        self.is_tiny = config.preset == "tiny"
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        #: dlib's detector, landmark predictor and identity embedding (CPU, loaded on first use).
        self.faces = FaceModels()
        # The tiny preset never downloads anything.
        self.registry = ModelRegistry(config.cache_dir, is_offline=is_offline or self.is_tiny)
        self._bases: dict[str, ResidentBase] = {}
        self._controlnets: dict[ControlKind, ControlNetModel] = {}
        self._pose_annotator: BodyPoseEstimator | None = None
        self._safety: LoadedSafetyChecker | None = None
        self._turbo_lora: LoraSource | None = None
        self._is_safety_resolved = False
        self._preview_decoder: Any = None
        self._lock = threading.Lock()

    @property
    def is_loaded(self) -> bool:
        return bool(self._bases)

    @property
    def is_controlnet_loaded(self) -> bool:
        return "openpose" in self._controlnets

    def load(self) -> None:
        """Load (or build) every resident model; a second call does nothing.

        Raises
        ------
        ModelMissing
            A configured model is not in the cache and cannot be fetched (names which one).
        WeightsMismatch
            A weight file does not fit its module.
        """
        from .bases import build_tiny_base, load_full_bases

        self.safety_checker()
        with self._lock:
            if self._bases:
                return
            if self.is_tiny:
                self._bases = {"tiny": build_tiny_base(self.config, self.device, self.dtype)}
            else:
                self._bases = load_full_bases(self.config, self.registry, self.device, self.dtype)
            log.info("model stack ready on %s (%s): bases %s", self.device, self.dtype, ", ".join(self._bases))

    def base(self, base_id: str) -> ResidentBase:
        """The resident base a style names; the tiny preset serves every style from its one base."""
        self.load()
        if self.is_tiny:
            return self._bases["tiny"]
        try:
            return self._bases[base_id]
        except KeyError:
            raise ModelMissing(
                f"base model {base_id!r} is not configured in config.yaml (models.base_models)"
            ) from None

    def resident_bases(self) -> list[ResidentBase]:
        """Every resident base; each has its own resampler, so face tokens are made once per base."""
        self.load()
        return list(self._bases.values())

    def inpaint_base(self) -> ResidentBase:
        """The base that inpaints templates: the first configured one (majicmix, as the original)."""
        self.load()
        return next(iter(self._bases.values()))

    def controlnet(self, kind: ControlKind = "openpose") -> ControlNetModel:
        """The OpenPose (or canny) ControlNet, loaded on first use and then kept resident; every base shares it.

        Raises
        ------
        ModelMissing
            Full preset: the ControlNet is not configured or not available.
        """
        with self._lock:
            if kind not in self._controlnets:
                from .bases import optimise_layout

                controlnet = load_controlnet(self.config, self.registry, self.device, self.dtype, kind)
                optimise_layout(controlnet, self.device)
                if self.config.compile:
                    controlnet.compile()
                self._controlnets[kind] = controlnet
            return self._controlnets[kind]

    def pose_annotator(self) -> BodyPoseEstimator:
        """The OpenPose body annotator for pose photos, loaded on first use and then kept resident.

        Raises
        ------
        PoseUnavailable
            No annotator is configured, or the tiny preset has none on disk: pose photos cannot
            be served, skeleton maps still can.
        ModelMissing, WeightsMismatch
            Full preset: the annotator is not available, or its file does not fit the network.
        """
        with self._lock:
            if self._pose_annotator is None:
                self._pose_annotator = load_pose_annotator(self.config, self.registry, self.device)
            return self._pose_annotator

    def safety_checker(self) -> LoadedSafetyChecker | None:
        """The safety checker, loaded once; ``None`` when none is configured or the check is turned off.

        Raises
        ------
        ModelMissing
            ``models.safety_checker`` is set (and the check on) but its folder is not available.
        """
        with self._lock:
            if not self._is_safety_resolved:
                self._safety = load_safety_checker(self.config, self.registry, self.device, self.dtype)
                self._is_safety_resolved = True
            return self._safety

    def preview_decoder(self) -> Any:
        """The tiny autoencoder of ``models.preview_decoder``, loaded on the first preview; ``None`` when none is set.

        Raises
        ------
        ModelMissing
            It is configured but not available, or not an ``AutoencoderTiny`` for SD1.5 latents.
        """
        ref = None if self.config.models is None else self.config.models.preview_decoder
        if ref is None:
            return None
        with self._lock:
            if self._preview_decoder is None:
                self._preview_decoder = load_preview_decoder(ref, self.registry, self.device, self.dtype)
            return self._preview_decoder

    def lora_file(self, ref: ModelRef, *, relative_to: Path) -> Path | None:
        """The local file of a LoRA (a style's or the default one); ``None`` in the tiny preset when it cannot apply.

        The tiny preset uses local LoRA files only: a catalogue LoRA is made for a full SD1.5
        UNet and cannot fit the tiny one, and the tiny preset never downloads.

        Parameters
        ----------
        ref:
            The LoRA as a registry reference.
        relative_to:
            The folder a relative local path is relative to (the styles folder).

        Raises
        ------
        ModelMissing
            Full preset: the LoRA is not in the cache and cannot be fetched.
        """
        if ref.path is not None:
            path = ref.path if ref.path.is_absolute() else relative_to / ref.path
            if path.is_file():
                return path
            if self.is_tiny:
                return None
            raise ModelMissing(f"LoRA file {path} does not exist")
        if self.is_tiny:
            return None
        return self.registry.resolve(ref, what="LoRA")

    def turbo_lora(self) -> LoraSource:
        """The turbo tier's few-step LoRA (``speed.turbo.lora``), fetched on first use; the tiny preset builds its own.

        Raises
        ------
        ModelMissing
            None is configured, or it is not available (the message names the download command).
        """
        from .tiny import build_tiny_turbo_lora

        ref = self.config.speed.turbo.lora
        with self._lock:
            if self._turbo_lora is not None:
                return self._turbo_lora
            if ref is None:
                raise _turbo_missing("no speed.turbo.lora is configured in config.yaml")
            source: LoraSource
            if self.is_tiny and ref.path is None:
                # A hub LoRA is made for the full-size UNet; the tiny preset has a tiny one of its own.
                source = build_tiny_turbo_lora
            elif self.is_tiny and ref.path is not None:
                if not ref.path.is_file():
                    raise _turbo_missing(f"{describe_ref(ref)} does not exist")
                source = ref.path
            else:
                try:
                    source = self.registry.resolve(ref, what="turbo LoRA")
                except ModelMissing as exc:
                    raise _turbo_missing(str(exc).split(". ")[0]) from exc
            self._turbo_lora = source
            return source


def _turbo_missing(detail: str) -> ModelMissing:
    return ModelMissing(
        f"turbo LoRA: {detail}. Fetch it with `python -m fact_runtime download` (or choose another speed).",
        user_message="The turbo speed is not available on this server yet; please choose another speed, "
        "or ask a server admin to run `python -m fact_runtime download`.",
    )
