"""Every model is loaded here and only here: the model stack, the resident bases, the registry
(ModelScope ids or local paths), style LoRAs, devices, the tiny preset, dlib's face models and the
strict state-dict loader. Imports torch lazily: only the stack's own modules need it."""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["FaceModels", "ModelRegistry", "ModelStack", "ResidentBase", "WeightReport"]

if TYPE_CHECKING:
    from .face_models import FaceModels
    from .registry import ModelRegistry
    from .resident import ResidentBase
    from .stack import ModelStack
    from .state_dict import WeightReport


def __getattr__(name: str) -> object:
    # The registry and dlib's models are used by torch-free tools (download, faces): importing
    # the package must not pull in torch for them.
    import importlib

    modules = {
        "FaceModels": "face_models",
        "ModelRegistry": "registry",
        "ModelStack": "stack",
        "ResidentBase": "resident",
        "WeightReport": "state_dict",
    }
    if name not in modules:
        raise AttributeError(name)
    return getattr(importlib.import_module(f".{modules[name]}", __name__), name)
