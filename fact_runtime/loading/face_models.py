"""dlib's face models from the ``face_recognition_models`` package: each read once, on first use.

The model stack owns one ``FaceModels``; tools and tests make their own. Every call into a dlib
model goes through ``run``, which holds that model's lock: dlib's CNN modules keep scratch buffers
inside the object, and the HOG detector and shape predictor cost nothing extra to serialise.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..errors import ModelMissing

__all__ = ["FaceModel", "FaceModels", "models_dir"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The four dlib models: HOG detector, 68-point landmarks, 128-d identity embedding, MMOD CNN detector.
FaceModel = Literal["detector", "predictor68", "recognizer", "cnn_detector"]

_FILES: dict[str, str] = {
    "predictor68": "shape_predictor_68_face_landmarks.dat",
    "recognizer": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn_detector": "mmod_human_face_detector.dat",
}


def models_dir() -> Path:
    """The folder holding the ``.dat`` files (found without importing the package: it needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing("the face_recognition_models package is not installed (pip install face_recognition_models)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class FaceModels:
    """The dlib models, loaded lazily and thread-safely, each used under its own lock."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}
        self._load_lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {name: threading.Lock() for name in (*_FILES, "detector")}

    def run(self, name: FaceModel, call: Callable[[Any], T]) -> T:
        """Call ``call(model)`` with model ``name`` loaded and locked.

        Raises
        ------
        ModelMissing
            The package or the model file is missing.
        """
        model = self._get(name)
        with self._locks[name]:
            return call(model)

    def _get(self, name: FaceModel) -> Any:
        model = self._loaded.get(name)
        if model is not None:
            return model
        with self._load_lock:
            model = self._loaded.get(name)
            if model is None:
                log.info("loading dlib model %s", name)
                model = self._loaded[name] = _build(name)
        return model


def _build(name: FaceModel) -> Any:
    import dlib

    if name == "detector":
        # Five sub-detectors: frontal, left/right profile, tilted.
        return dlib.get_frontal_face_detector()
    path = models_dir() / _FILES[name]
    if not path.is_file():
        raise ModelMissing(f"dlib model file missing: {path}")
    if name == "predictor68":
        return dlib.shape_predictor(str(path))
    if name == "recognizer":
        return dlib.face_recognition_model_v1(str(path))
    return dlib.cnn_face_detection_model_v1(str(path))
