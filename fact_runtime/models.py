"""The model stack: the only place models are loaded. Base models stay resident on the device.

For ``preset: full`` every model comes through the ``ModelRegistry`` (ModelScope id + revision,
or a local path): each SD1.5 base with its own FACT adapter file, one TransFace-S ViT shared by
all bases, one resampler per adapter, the OpenPose ControlNet loaded on the first job that
brings a pose, the OpenPose body annotator loaded on the first pose *photo*, and the optional
safety checker. For ``preset: tiny`` the same structure is built from ``tiny.py`` (the annotator
and the safety checker only from local files).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .base import LoadedBase, make_scheduler
from .config import RuntimeConfig
from .device import resolve_device, resolve_dtype
from .errors import ModelMissing, PoseUnavailable
from .lora import StyleLoras

if TYPE_CHECKING:
    from diffusers import (
        ControlNetModel,
        StableDiffusionPipeline,
    )
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import BaseImageProcessor

    from .fact import FaceEncoder
    from .openpose import BodyPoseEstimator
    from .registry import ModelRegistry
    from .style import LoraRef

__all__ = ["LoadedSafetyChecker", "ModelStack"]

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class LoadedSafetyChecker:
    """The safety checker, resident on the device in the model dtype, and its CLIP image processor."""

    checker: StableDiffusionSafetyChecker
    processor: BaseImageProcessor


class ModelStack:
    """Every model of the runtime, loaded once on the worker thread and kept on the device."""

    def __init__(self, config: RuntimeConfig, *, is_offline: bool = False) -> None:
        self.config = config
        self.is_tiny = config.preset == "tiny"
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        self.is_offline = is_offline
        self._bases: dict[str, LoadedBase] = {}
        self._controlnet: ControlNetModel | None = None
        self._pose_annotator: BodyPoseEstimator | None = None
        self._safety: LoadedSafetyChecker | None = None
        self._is_safety_resolved = False
        self._registry: ModelRegistry | None = None
        self._lock = threading.Lock()

    @property
    def is_loaded(self) -> bool:
        return bool(self._bases)

    @property
    def is_controlnet_loaded(self) -> bool:
        return self._controlnet is not None

    @property
    def registry(self) -> ModelRegistry:
        if self._registry is None:
            from .registry import ModelRegistry

            # The tiny preset never downloads anything.
            self._registry = ModelRegistry(self.config.cache_dir, is_offline=self.is_offline or self.is_tiny)
        return self._registry

    def load(self) -> None:
        """Load (or build) every resident model; a second call does nothing.

        Raises
        ------
        ModelMissing
            A configured model is not in the cache and cannot be fetched (names which one).
        WeightsMismatch
            A weight file does not fit its module.
        """
        # First, so a configured but missing checker fails before gigabytes of base models load.
        self.safety_checker()
        with self._lock:
            if self._bases:
                return
            if self.is_tiny:
                self._bases = {"tiny": self._build_tiny_base()}
            else:
                self._bases = self._load_full_bases()
            log.info("model stack ready on %s (%s): bases %s", self.device, self.dtype, ", ".join(self._bases))

    def base(self, base_id: str) -> LoadedBase:
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

    def inpaint_base(self) -> LoadedBase:
        """The base that inpaints templates: the first configured one (majicmix, as the original)."""
        self.load()
        return next(iter(self._bases.values()))

    def controlnet(self) -> ControlNetModel:
        """The OpenPose ControlNet, loaded on first use and then kept resident."""
        with self._lock:
            if self._controlnet is None:
                self._controlnet = self._load_controlnet()
            return self._controlnet

    def pose_annotator(self) -> BodyPoseEstimator:
        """The OpenPose body annotator for pose photos, loaded on first use and then kept resident.

        Raises
        ------
        PoseUnavailable
            No annotator is configured (``models.openpose_annotator``), or the tiny preset has
            none on disk: pose photos cannot be served, skeleton maps still can.
        ModelMissing
            Full preset: the configured annotator is not cached and cannot be fetched.
        WeightsMismatch
            ``body_pose_model.pth`` does not fit the body network.
        """
        with self._lock:
            if self._pose_annotator is None:
                self._pose_annotator = self._load_pose_annotator()
            return self._pose_annotator

    def safety_checker(self) -> LoadedSafetyChecker | None:
        """The safety checker, loaded once; ``None`` when none is configured or the check is turned off.

        Raises
        ------
        ModelMissing
            ``models.safety_checker`` is set (and ``generation.is_safety_check_enabled`` on) but
            its folder is not available (the tiny preset never downloads), or is not a checker.
        """
        with self._lock:
            if not self._is_safety_resolved:
                self._safety = self._load_safety_checker()
                self._is_safety_resolved = True
            return self._safety

    def lora_file(self, lora: LoraRef, *, styles_dir: Path) -> Path | None:
        """The local file of a style LoRA; ``None`` in the tiny preset when it cannot apply.

        The tiny preset uses local LoRA files only: a catalogue LoRA is made for a full SD1.5
        UNet and cannot fit the tiny one, and the tiny preset never downloads.

        Raises
        ------
        ModelMissing
            Full preset: the LoRA is not in the cache and cannot be fetched.
        """
        ref = lora.to_model_ref()
        if ref.path is not None:
            path = ref.path if ref.path.is_absolute() else styles_dir / ref.path
            if path.is_file():
                return path
            if self.is_tiny:
                return None
            raise ModelMissing(f"style LoRA file {path} does not exist")
        if self.is_tiny:
            return None
        return self.registry.resolve(ref, what="style LoRA")

    # -- building -------------------------------------------------------------------------

    def _build_tiny_base(self) -> LoadedBase:
        from diffusers import StableDiffusionPipeline

        from .fact import FaceEncoder, FactDims, install_fact
        from .tiny import SD15_SCHEDULER_CONFIG, TINY_CROSS_ATTENTION_DIM, TINY_SEED, build_tiny_components

        parts = build_tiny_components()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(TINY_SEED + 2)
            encoder = FaceEncoder(FactDims.tiny(cross_attention_dim=TINY_CROSS_ATTENTION_DIM))
            install_fact(parts.unet, scale=self.config.generation.adapter_scale)
            # Fresh FACT gates start at zero (a no-op); open them so the face visibly steers the tiny model.
            _open_fact_gates(parts.unet)
        scheduler = make_scheduler(self.config.generation.scheduler, SD15_SCHEDULER_CONFIG)
        pipe = StableDiffusionPipeline(
            vae=parts.vae,
            text_encoder=parts.text_encoder,
            tokenizer=parts.tokenizer,
            unet=parts.unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        return self._finish_base("tiny", pipe, encoder, SD15_SCHEDULER_CONFIG)

    def _load_full_bases(self) -> dict[str, LoadedBase]:
        from diffusers import StableDiffusionPipeline

        from .fact import FaceEncoder, FactDims, install_fact, load_adapter_weights, load_transface_weights

        models = self.config.models
        assert models is not None  # guaranteed by RuntimeConfig validation for preset "full"
        # Resolve (and fetch) every file first: a missing model fails before gigabytes are loaded.
        transface = self.registry.resolve(models.transface, what="TransFace-S face model")
        files = {
            base_id: (
                self.registry.resolve(base.diffusers, what=f"base model {base_id}"),
                self.registry.resolve(base.adapter, what=f"FACT adapter for {base_id}"),
            )
            for base_id, base in models.base_models.items()
        }
        dims = FactDims.full()
        # Built on the meta device, the encoders cost no memory or random init until the files'
        # tensors are assigned into them.
        with torch.device("meta"):
            shared_vit = FaceEncoder(dims).vit
        load_transface_weights(shared_vit, transface)
        bases: dict[str, LoadedBase] = {}
        for base_id, (folder, adapter) in files.items():
            pipe = StableDiffusionPipeline.from_pretrained(
                folder, dtype=self.dtype, safety_checker=None, feature_extractor=None, requires_safety_checker=False
            )
            with torch.device("meta"):
                encoder = FaceEncoder(dims)
            # One ViT for every base (fact-reference §8 item 12); only the resampler is per adapter.
            encoder.vit = shared_vit
            install_fact(pipe.unet, scale=self.config.generation.adapter_scale)
            load_adapter_weights(pipe.unet, encoder.resampler, adapter)
            bases[base_id] = self._finish_base(base_id, pipe, encoder, pipe.scheduler.config)
        return bases

    def _finish_base(
        self, base_id: str, pipe: StableDiffusionPipeline, encoder: FaceEncoder, scheduler_config: Any
    ) -> LoadedBase:
        pipe.to(self.device)
        if pipe.unet.dtype != self.dtype:  # only the tiny preset, built in float32, gets here
            pipe.to(dtype=self.dtype)
        pipe.set_progress_bar_config(disable=True)
        # The face encoder stays float32 (fact-reference §2.2, §2.3): its tokens are tiny.
        encoder.to(self.device, torch.float32).eval()
        loaded = LoadedBase(
            base_id=base_id, text2img=pipe, encoder=encoder, loras=StyleLoras(pipe), scheduler_config=scheduler_config
        )
        pipe.scheduler = loaded.scheduler(self.config.generation.scheduler)
        return loaded

    def _load_controlnet(self) -> ControlNetModel:
        from .fact import install_fact

        if self.is_tiny:
            from .tiny import build_tiny_controlnet

            controlnet = build_tiny_controlnet()
        else:
            from diffusers import ControlNetModel

            models = self.config.models
            assert models is not None
            path = self.registry.resolve(models.controlnet_openpose, what="OpenPose ControlNet")
            controlnet = ControlNetModel.from_pretrained(path, dtype=self.dtype)
        controlnet.to(self.device, self.dtype).eval()
        # FACT is already on each UNet; this only gives the ControlNet its text-only processors.
        for base in self._bases.values():
            unet = base.text2img.unet
            install_fact(unet, controlnets=(controlnet,), scale=self.config.generation.adapter_scale)
        log.info("OpenPose ControlNet loaded (first pose job)")
        return controlnet

    def _load_pose_annotator(self) -> BodyPoseEstimator:
        from .openpose import BodyPoseEstimator
        from .openpose_net import BODY_WEIGHTS_FILE

        ref = None if self.config.models is None else self.config.models.openpose_annotator
        # The tiny preset never downloads, and never fakes a skeleton: without local weights it refuses.
        if ref is None or (self.is_tiny and not self.registry.is_cached(ref)):
            raise PoseUnavailable("pose photo refused: no OpenPose annotator (models.openpose_annotator) available")
        found = self.registry.resolve(ref, what="OpenPose annotator")
        estimator = BodyPoseEstimator.from_file(found if found.is_file() else found / BODY_WEIGHTS_FILE, self.device)
        log.info("OpenPose annotator loaded (first pose photo)")
        return estimator

    def _load_safety_checker(self) -> LoadedSafetyChecker | None:
        ref = None if self.config.models is None else self.config.models.safety_checker
        if ref is None or not self.config.generation.is_safety_check_enabled:
            if not self.is_tiny:
                log.warning(
                    "no safety check (models.safety_checker unset or generation.is_safety_check_enabled off): "
                    "generated images are filtered by the negative prompt alone"
                )
            return None
        from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
        from transformers import CLIPImageProcessorPil

        folder = self.registry.resolve(ref, what="safety checker")
        try:
            checker = StableDiffusionSafetyChecker.from_pretrained(folder, dtype=self.dtype)
        except (OSError, ValueError) as exc:
            raise ModelMissing(
                f"safety checker: {folder} is not a StableDiffusionSafetyChecker folder ({exc})"
            ) from exc
        checker.to(self.device).eval()
        # The PIL backend needs no torchvision. A folder without its own preprocessor config gets
        # CLIP's defaults, which are the settings the checker was trained with.
        has_config = (folder / "preprocessor_config.json").is_file()
        processor = CLIPImageProcessorPil.from_pretrained(folder) if has_config else CLIPImageProcessorPil()
        log.info("safety checker loaded from %s", folder)
        return LoadedSafetyChecker(checker=checker, processor=processor)


def _open_fact_gates(unet: torch.nn.Module) -> None:
    for name, parameter in unet.named_parameters():
        if name.endswith(("alpha_attn", "alpha_dense")):
            torch.nn.init.constant_(parameter, 1.0)
