"""Models the stack loads on first use: the ControlNets, the OpenPose annotator, the safety checker."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from ..errors import ModelMissing, PoseUnavailable
from .state_dict import WeightReport, load_state_dict_file

if TYPE_CHECKING:
    from diffusers import ControlNetModel
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import BaseImageProcessor

    from ..config import ModelRef, RuntimeConfig
    from ..pose import BodyPoseEstimator, BodyPoseNet
    from .registry import ModelRegistry

#: The ControlNets the pipelines use: OpenPose (pose photos, both inpainting recipes' pose
#: passes) and canny (the original inpainting recipe).
ControlKind = Literal["openpose", "canny"]

__all__ = [
    "ControlKind",
    "LoadedSafetyChecker",
    "load_body_pose_weights",
    "load_controlnet",
    "load_pose_annotator",
    "load_preview_decoder",
    "load_safety_checker",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoadedSafetyChecker:
    """The safety checker, resident on the device in the model dtype, and its CLIP image processor."""

    checker: StableDiffusionSafetyChecker
    processor: BaseImageProcessor


def load_controlnet(
    config: RuntimeConfig, registry: ModelRegistry, device: torch.device, dtype: torch.dtype, kind: ControlKind
) -> ControlNetModel:
    """The ``openpose`` or ``canny`` ControlNet (the tiny one for the tiny preset), on ``device`` in ``dtype``.

    Raises
    ------
    ModelMissing
        Full preset: the ControlNet is not configured (canny is optional in config.yaml), or not
        available.
    """
    if config.preset == "tiny":
        from .tiny import TINY_CANNY_SEED, TINY_SEED, build_tiny_controlnet

        controlnet = build_tiny_controlnet(seed=TINY_CANNY_SEED if kind == "canny" else TINY_SEED)
    else:
        from diffusers import ControlNetModel

        assert config.models is not None
        ref = config.models.controlnet_canny if kind == "canny" else config.models.controlnet_openpose
        if ref is None:
            raise ModelMissing(
                "the original inpainting recipe needs the canny ControlNet: add models.controlnet_canny to "
                "config.yaml (ModelScope ly261666/cv_wanx_style_model v1.0.3, subfolder contronet-canny), "
                "or set generation.inpaint_recipe: fast"
            )
        path = registry.resolve(ref, what=f"{kind} ControlNet")
        controlnet = ControlNetModel.from_pretrained(path, dtype=dtype)
    controlnet.to(device, dtype).eval()
    log.info("%s ControlNet loaded (first job that needs it)", kind)
    return controlnet


def load_pose_annotator(config: RuntimeConfig, registry: ModelRegistry, device: torch.device) -> BodyPoseEstimator:
    """The OpenPose body network with ``body_pose_model.pth`` loaded strictly, in float32 on ``device``.

    Raises
    ------
    PoseUnavailable
        No annotator is configured, or the tiny preset has none on disk (it never downloads, and
        never fakes a skeleton).
    ModelMissing
        Full preset: the configured annotator is not cached and cannot be fetched.
    WeightsMismatch
        The file does not fit the body network.
    """
    from ..pose import BODY_WEIGHTS_FILE, BodyPoseEstimator, BodyPoseNet

    ref = None if config.models is None else config.models.openpose_annotator
    if ref is None or (config.preset == "tiny" and not registry.is_cached(ref)):
        raise PoseUnavailable("pose photo refused: no OpenPose annotator (models.openpose_annotator) available")
    found = registry.resolve(ref, what="OpenPose annotator")
    with torch.device("meta"):
        net = BodyPoseNet()
    load_body_pose_weights(net, found if found.is_file() else found / BODY_WEIGHTS_FILE)
    log.info("OpenPose annotator loaded (first pose photo)")
    # float32 like the face encoder: one small image per job, and fp16 heatmaps lose weak peaks.
    return BodyPoseEstimator(net.to(device, torch.float32))


def load_body_pose_weights(net: BodyPoseNet, path: Path | str) -> WeightReport:
    """Load ``body_pose_model.pth`` into ``net`` with every tensor accounted for (a meta ``net`` takes them as they are).

    Raises
    ------
    ModelMissing
        The file does not exist.
    WeightsMismatch
        A tensor is missing, unexpected or mis-shaped; the message names each one.
    """
    return load_state_dict_file(net, path, part="openpose body")


def load_safety_checker(
    config: RuntimeConfig, registry: ModelRegistry, device: torch.device, dtype: torch.dtype
) -> LoadedSafetyChecker | None:
    """The configured safety checker and its processor; None when none is configured or the check is off.

    Raises
    ------
    ModelMissing
        The folder is not available (the tiny preset never downloads), or is not a checker.
    """
    ref = None if config.models is None else config.models.safety_checker
    if ref is None or not config.generation.is_safety_check_enabled:
        if config.preset != "tiny":
            log.warning(
                "no safety check (models.safety_checker unset or generation.is_safety_check_enabled off): "
                "generated images are filtered by the negative prompt alone"
            )
        return None
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPImageProcessorPil

    folder = registry.resolve(ref, what="safety checker")
    try:
        checker = StableDiffusionSafetyChecker.from_pretrained(folder, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelMissing(f"safety checker: {folder} is not a StableDiffusionSafetyChecker folder ({exc})") from exc
    checker.to(device).eval()
    # The PIL backend needs no torchvision. A folder without its own preprocessor config gets
    # CLIP's defaults, which are the settings the checker was trained with.
    has_config = (folder / "preprocessor_config.json").is_file()
    processor = CLIPImageProcessorPil.from_pretrained(folder) if has_config else CLIPImageProcessorPil()
    log.info("safety checker loaded from %s", folder)
    return LoadedSafetyChecker(checker=checker, processor=processor)


def load_preview_decoder(ref: ModelRef, registry: ModelRegistry, device: torch.device, dtype: torch.dtype) -> Any:
    """The tiny autoencoder that decodes previews (a diffusers ``AutoencoderTiny``).

    Raises
    ------
    ModelMissing
        The folder is not available, or is not an ``AutoencoderTiny`` for 4-channel latents.
    """
    from diffusers import AutoencoderTiny

    folder = registry.resolve(ref, what="preview decoder")
    try:
        decoder = AutoencoderTiny.from_pretrained(folder, torch_dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelMissing(f"preview decoder: {folder} is not an AutoencoderTiny folder ({exc})") from exc
    if decoder.config.latent_channels != 4:
        raise ModelMissing(
            f"preview decoder: {folder} decodes {decoder.config.latent_channels}-channel latents, not SD1.5's 4"
        )
    log.info("preview decoder loaded from %s", folder)
    return decoder.to(device).eval()
