"""FACT model core: TransFace-S, the face resampler, the UNet/ControlNet processors, weight loading.

Imports torch and diffusers: only the model stack imports this package, never ``fact_runtime``'s
top level.
"""

from __future__ import annotations

from .adapter import (
    face_processors,
    install_fact,
    is_fact_installed,
    remove_fact,
    set_fact_num_faces,
    set_fact_scale,
)
from .dims import FACE_IMAGE_SIZE, SD15_UNET_CONFIG, TOKENS_PER_FACE, FactDims
from .encoder import FaceEncoder, FaceTokens, to_encoder_input
from .processor import ControlNetAttnProcessor, FaceAttnProcessor
from .resampler import FaceResampler
from .transface import TransFaceS
from .weights import WeightReport, load_adapter_weights, load_transface_weights, read_state_dict

__all__ = [
    "FACE_IMAGE_SIZE",
    "TOKENS_PER_FACE",
    "SD15_UNET_CONFIG",
    "FactDims",
    "TransFaceS",
    "FaceResampler",
    "FaceTokens",
    "FaceEncoder",
    "to_encoder_input",
    "FaceAttnProcessor",
    "ControlNetAttnProcessor",
    "install_fact",
    "set_fact_scale",
    "set_fact_num_faces",
    "remove_fact",
    "is_fact_installed",
    "face_processors",
    "WeightReport",
    "load_transface_weights",
    "load_adapter_weights",
    "read_state_dict",
]
