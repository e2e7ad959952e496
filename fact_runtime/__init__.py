"""FACT runtime: models, face analysis, pipelines and the GPU executor. Never imports discord.

This is the package's whole public surface, and importing it stays light (no torch): the model
stack is imported by the worker when the runtime starts.
"""

from __future__ import annotations

from .catalog import LoraRef, ReloadReport, Style, StyleCatalog, list_templates, load_styles
from .config import RuntimeConfig, load_config_section, load_runtime_config
from .errors import *  # noqa: F403 - the error family is part of the public surface
from .errors import __all__ as _error_names
from .executor import JobHandle, Runtime, Update
from .limits import MAX_SEED, RequestLimits, check_template_choice
from .metrics import RuntimeMetrics
from .request import (
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

__all__ = [
    "MAX_SEED",
    "Engine",
    "GeneratedImage",
    "InpaintRequest",
    "JobHandle",
    "JobRequest",
    "JobResult",
    "LoraRef",
    "PortraitRequest",
    "Progress",
    "ReloadReport",
    "RequestLimits",
    "Runtime",
    "RuntimeConfig",
    "RuntimeMetrics",
    "StepReporter",
    "Style",
    "StyleCatalog",
    "Subject",
    "Update",
    "check_template_choice",
    "list_templates",
    "load_config_section",
    "load_runtime_config",
    "load_styles",
    *_error_names,
]
