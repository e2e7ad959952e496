"""FACT model core: TransFace-S, the face resampler, the UNet/ControlNet processors, weight loading.

Imports torch and diffusers: never imported by ``fact_runtime``'s top level. The pipeline-level
functions (``attach_fact``, ``set_fact_scale``, ``set_fact_faces``, ``unload_fact``) are the
surface the rest of the runtime uses; the UNet-level ones below them are for tests and tools.
"""

from __future__ import annotations

from .adapter import face_processors, install_fact, is_fact_installed, remove_fact, set_fact_num_faces
from .dims import FACE_IMAGE_SIZE, SD15_UNET_CONFIG, TOKENS_PER_FACE, FactDims
from .encoder import FaceEncoder, FaceTokens, to_encoder_input
from .pipeline import attach_fact, is_fact_attached, set_fact_faces, set_fact_scale, unload_fact
from .processor import ControlNetAttnProcessor, FaceAttnProcessor
from .resampler import FaceResampler
from .transface import TransFaceS

__all__ = [
    "FACE_IMAGE_SIZE",
    "SD15_UNET_CONFIG",
    "TOKENS_PER_FACE",
    "ControlNetAttnProcessor",
    "FaceAttnProcessor",
    "FaceEncoder",
    "FaceResampler",
    "FaceTokens",
    "FactDims",
    "TransFaceS",
    "attach_fact",
    "face_processors",
    "install_fact",
    "is_fact_attached",
    "is_fact_installed",
    "remove_fact",
    "set_fact_faces",
    "set_fact_num_faces",
    "set_fact_scale",
    "to_encoder_input",
    "unload_fact",
]
