"""dlib models from the ``face_recognition_models`` package: loaded once, on first use, thread-safely."""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ModelMissing

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_CACHE: dict[str, Any] = {}

# dlib's CNN modules keep scratch buffers inside the object, so one call at a time per model.
# The HOG detector and shape predictor are const in C++, but a lock costs nothing next to them.
MODEL_LOCKS: dict[str, threading.Lock] = {
    "detector": threading.Lock(),
    "predictor68": threading.Lock(),
    "recognizer": threading.Lock(),
    "cnn_detector": threading.Lock(),
}


def models_dir() -> Path:
    """The folder holding the ``.dat`` files (found without importing the package: it needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing("the face_recognition_models package is not installed (pip install face_recognition_models)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _model_file(name: str) -> str:
    path = models_dir() / name
    if not path.is_file():
        raise ModelMissing(f"dlib model file missing: {path}")
    return str(path)


def _load(name: str, factory: Callable[[], Any]) -> Any:
    model = _CACHE.get(name)
    if model is not None:
        return model
    with _LOCK:
        model = _CACHE.get(name)
        if model is None:
            log.info("loading dlib model %s", name)
            model = factory()
            _CACHE[name] = model
    return model


def detector() -> Any:
    """dlib's HOG frontal face detector (five sub-detectors: frontal, left/right profile, tilted)."""
    import dlib

    return _load("detector", dlib.get_frontal_face_detector)


def predictor68() -> Any:
    """The 68-point landmark predictor (iBUG 300-W layout)."""
    import dlib

    return _load("predictor68", lambda: dlib.shape_predictor(_model_file("shape_predictor_68_face_landmarks.dat")))


def recognizer() -> Any:
    """dlib's ResNet face recognition model (128-d embedding)."""
    import dlib

    return _load(
        "recognizer",
        lambda: dlib.face_recognition_model_v1(_model_file("dlib_face_recognition_resnet_model_v1.dat")),
    )


def cnn_detector() -> Any:
    """dlib's MMOD CNN face detector, used to confirm weak HOG detections."""
    import dlib

    return _load(
        "cnn_detector",
        lambda: dlib.cnn_face_detection_model_v1(_model_file("mmod_human_face_detector.dat")),
    )
