"""FACT runtime: models, face analysis, pipelines and the GPU executor. Never imports discord.

Importing this package stays light (no torch): the model stack is imported by the worker
when the runtime starts.
"""

from __future__ import annotations

from .config import RuntimeConfig, load_config_section, load_runtime_config
from .errors import *  # noqa: F403 - the error family is part of the public surface
from .errors import __all__ as _error_names
from .jobs import JobHandle
from .metrics import RuntimeMetrics
from .request import (
    MAX_SEED,
    Engine,
    GeneratedImage,
    InpaintRequest,
    JobRequest,
    JobResult,
    PortraitRequest,
    Progress,
    StepReporter,
    Subject,
)
from .runtime import Runtime
from .style import LoraRef, Style
from .styles import ReloadReport, StyleCatalog, load_styles
from .templates import list_templates

__all__ = [
    "RuntimeConfig",
    "load_runtime_config",
    "load_config_section",
    "Runtime",
    "JobHandle",
    "RuntimeMetrics",
    "MAX_SEED",
    "Engine",
    "GeneratedImage",
    "InpaintRequest",
    "JobRequest",
    "JobResult",
    "PortraitRequest",
    "Progress",
    "StepReporter",
    "Subject",
    "Style",
    "LoraRef",
    "StyleCatalog",
    "ReloadReport",
    "load_styles",
    "list_templates",
    *_error_names,
]
