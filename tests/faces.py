"""One set of dlib face models for the whole test session (each model loads once, on first use)."""

from __future__ import annotations

from fact_runtime.loading.face_models import FaceModels

FACES = FaceModels()
