"""FACT runtime: models, face analysis, pipelines and the GPU executor. Never imports discord.

This is the package's whole public surface, and importing it stays light (no torch): the model
stack is imported by the worker when the runtime starts.
"""

from __future__ import annotations

from .catalog import LoraRef, ReloadReport, Style, StyleCatalog, list_templates, load_styles
from .config import RuntimeConfig, load_config_section, load_runtime_config
from .config_doc import config_reference
from .config_source import find_config
from .errors import (
    ConfigError,
    ContentBlocked,
    FaceIndexOutOfRange,
    FaceTooSmall,
    FactError,
    ImageTooLarge,
    ImageTooSmall,
    ImageUnreadable,
    InputError,
    InvalidRequest,
    JobCancelled,
    JobFailed,
    JobTimedOut,
    ModelError,
    ModelMissing,
    NoFaceFound,
    NoPoseFound,
    OutOfMemory,
    PoseUnavailable,
    QueueFull,
    RuntimeDead,
    StyleError,
    UnknownStyle,
    UnknownTemplate,
    UnsupportedImage,
    UserLimitReached,
    WeightsMismatch,
)
from .executor import JobHandle, Runtime, Update
from .limits import MAX_SEED, RequestLimits, check_template_choice
from .loading.registry import missing_models
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
    "ConfigError",
    "ContentBlocked",
    "Engine",
    "FaceIndexOutOfRange",
    "FaceTooSmall",
    "FactError",
    "GeneratedImage",
    "ImageTooLarge",
    "ImageTooSmall",
    "ImageUnreadable",
    "InpaintRequest",
    "InputError",
    "InvalidRequest",
    "JobCancelled",
    "JobFailed",
    "JobHandle",
    "JobRequest",
    "JobResult",
    "JobTimedOut",
    "LoraRef",
    "ModelError",
    "ModelMissing",
    "NoFaceFound",
    "NoPoseFound",
    "OutOfMemory",
    "PortraitRequest",
    "PoseUnavailable",
    "Progress",
    "QueueFull",
    "ReloadReport",
    "RequestLimits",
    "Runtime",
    "RuntimeConfig",
    "RuntimeDead",
    "RuntimeMetrics",
    "StepReporter",
    "Style",
    "StyleCatalog",
    "StyleError",
    "Subject",
    "UnknownStyle",
    "UnknownTemplate",
    "UnsupportedImage",
    "Update",
    "UserLimitReached",
    "WeightsMismatch",
    "check_template_choice",
    "config_reference",
    "find_config",
    "list_templates",
    "load_config_section",
    "load_runtime_config",
    "load_styles",
    "missing_models",
]
