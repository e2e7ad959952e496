"""The settings models' common base and the model reference every model setting uses."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["ModelRef", "Strict"]


class Strict(BaseModel):
    # The string under a field is its description: the README's configuration reference shows it.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ModelRef(Strict):
    """A model by ModelScope id + revision (+ file or sub-folder), or by local path."""

    model_id: str | None = None
    """ModelScope repository, ``owner/name``."""
    revision: str | None = None
    """The pinned revision (tag or commit) of ``model_id``."""
    subfolder: str | None = None
    """Only this folder of the repository."""
    file: str | None = None
    """Only this file of the repository."""
    path: Path | None = None
    """A local file or folder instead of ``model_id``."""

    @model_validator(mode="after")
    def _one_source(self) -> ModelRef:
        if (self.model_id is None) == (self.path is None):
            raise ValueError("give exactly one of model_id (with revision) or path")
        if self.model_id is not None and not self.revision:
            raise ValueError("a ModelScope model_id needs a pinned revision")
        return self
