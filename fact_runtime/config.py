"""Typed runtime settings, read from the ``runtime:`` section of config.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError

__all__ = [
    "BrokerConfig",
    "GenerationConfig",
    "ImageLimits",
    "ModelRef",
    "ModelsConfig",
    "QueueConfig",
    "RuntimeConfig",
    "format_validation_error",
    "load_config_section",
    "load_runtime_config",
]


M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRef(_Strict):
    """A model by ModelScope id + revision (+ file or sub-folder), or by local path."""

    model_id: str | None = None
    revision: str | None = None
    subfolder: str | None = None
    file: str | None = None
    path: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ModelRef:
        if (self.model_id is None) == (self.path is None):
            raise ValueError("give exactly one of model_id (with revision) or path")
        if self.model_id is not None and not self.revision:
            raise ValueError("a ModelScope model_id needs a pinned revision")
        return self


class BaseModelConfig(_Strict):
    """An SD1.5 base model and the FACT adapter file trained for it."""

    diffusers: ModelRef
    adapter: ModelRef


class ModelsConfig(_Strict):
    base_models: dict[str, BaseModelConfig]
    transface: ModelRef
    controlnet_openpose: ModelRef
    #: The canny ControlNet of the original inpainting recipe (fact-reference §1.3); only
    #: ``generation.inpaint_recipe: original`` needs it, loaded on its first job.
    controlnet_canny: ModelRef | None = None
    openpose_annotator: ModelRef | None = None
    #: Used when a style names no LoRA of its own (fact-reference §1.5).
    default_lora: ModelRef | None = None
    #: A diffusers ``StableDiffusionSafetyChecker`` folder (config.json, weights and, ideally, its
    #: CLIP ``preprocessor_config.json``: the layout of CompVis/stable-diffusion-safety-checker).
    #: Without it images are filtered by the negative prompt alone.
    safety_checker: ModelRef | None = None


class ImageLimits(_Strict):
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_pixels: int = Field(default=40_000_000, gt=0)
    min_side: int = Field(default=128, gt=0)
    #: Long side templates and the faces command are analysed at; larger photos are downscaled first.
    analysis_side: int = Field(default=1024, gt=0)
    #: Long side a selfie is used at for a portrait (the original's 1000 px, fact-reference §4.2 step 2).
    portrait_selfie_side: int = Field(default=1000, gt=0)
    #: Long side a selfie is used at for inpainting (the original's 2000 px, fact-reference §4.3 C).
    inpaint_selfie_side: int = Field(default=2000, gt=0)


class GenerationConfig(_Strict):
    width: int = Field(default=512, gt=0, multiple_of=8)
    height: int = Field(default=512, gt=0, multiple_of=8)
    scheduler: Literal["pndm", "dpmpp_2m", "euler_a", "ddim"] = "pndm"
    num_inference_steps: int = Field(default=50, ge=1, le=150)
    #: Classifier-free guidance of portraits whose style sets none (the original's text-to-image 7.0).
    guidance_scale: float = Field(default=7.0, ge=0)
    #: FACT scale of text-to-image denoising: portraits whose style sets none, and the original
    #: inpainting recipe's pose pass (0.5 in both places of the original).
    adapter_scale: float = Field(default=0.5, ge=0)
    #: ``original``: the original app's five passes (pose pass, fusion, warped paste, ControlNet
    #: inpaint, refinement); ``fast``: one inpainting pass. A request may choose its own.
    inpaint_recipe: Literal["original", "fast"] = "original"
    #: Classifier-free guidance of every inpainting pass, either recipe (the original's 5.0).
    inpaint_guidance_scale: float = Field(default=5.0, ge=0)
    #: FACT scale of the inpainting denoising passes (the original's 0.55).
    inpaint_adapter_scale: float = Field(default=0.55, ge=0)
    inpaint_strength: float = Field(default=0.6, gt=0, le=1)
    max_count: int = Field(default=4, ge=1, le=10)
    #: Photos of one person a job may take (a saved identity's photos); each adds 16 face tokens.
    max_photos: int = Field(default=4, ge=1, le=8)
    max_batch: int = Field(default=4, ge=1)
    is_face_fusion_enabled: bool = True
    face_fusion_strength: float = Field(default=0.6, ge=0, le=1)
    is_ranking_enabled: bool = True
    #: Withhold images the safety checker flags; only effective when ``models.safety_checker`` is set.
    is_safety_check_enabled: bool = True


class QueueConfig(_Strict):
    max_queued: int = Field(default=50, ge=1)
    max_per_user: int = Field(default=2, ge=1)
    job_timeout_s: float = Field(default=600.0, gt=0)
    #: A stage or denoising step running longer than this fails its job at once (``JobTimedOut``).
    step_timeout_s: float = Field(default=120.0, gt=0)
    #: A worker silent this long (a step that never returns) marks the runtime dead: restart the process.
    hang_timeout_s: float = Field(default=300.0, gt=0)
    #: close() waits this long for an interrupted job to stop, then leaves the worker thread behind.
    close_timeout_s: float = Field(default=5.0, gt=0)
    #: On close(): let the running job finish (True) or interrupt it (False).
    is_drain_on_close: bool = True

    @model_validator(mode="after")
    def _hang_after_step(self) -> QueueConfig:
        # The stuck job must be failed (and so not re-queued after the restart) before the runtime dies.
        if self.hang_timeout_s <= self.step_timeout_s:
            raise ValueError("hang_timeout_s must be longer than step_timeout_s")
        return self


class BrokerConfig(_Strict):
    """How the bot and the worker processes use Redis Streams (``runtime.backend: redis``)."""

    #: Every key, stream and consumer group of one deployment starts with this.
    prefix: str = Field(default="fact", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    #: A worker renews its presence (and its claim on the running job) this often.
    heartbeat_s: float = Field(default=2.0, gt=0)
    #: A worker silent this long is gone: its presence expires and its job is reclaimed by another.
    lost_after_s: float = Field(default=15.0, gt=0)
    #: What a worker does with its running job on SIGTERM: finish it, or interrupt it at the next
    #: step and hand it back to the stream for another worker.
    on_sigterm: Literal["finish", "hand_back"] = "finish"

    @model_validator(mode="after")
    def _heartbeat_within_loss(self) -> BrokerConfig:
        if self.lost_after_s <= 2 * self.heartbeat_s:
            raise ValueError("lost_after_s must be more than twice heartbeat_s, or live workers look lost")
        return self


class RuntimeConfig(_Strict):
    preset: Literal["full", "tiny"] = "full"
    #: Where jobs run: ``local`` (a worker thread in the bot's process) or ``redis`` (worker
    #: processes, one per GPU, fed through Redis Streams at ``redis_url``).
    backend: Literal["local", "redis"] = "local"
    redis_url: str = Field(default="redis://localhost:6379/0", pattern=r"^(redis|rediss|unix)://")
    broker: BrokerConfig = BrokerConfig()
    device: str = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    cache_dir: Path = Path("cache/models")
    styles_dir: Path = Path("styles")
    #: Built-in inpainting templates: image files whose stem is the template id.
    templates_dir: Path = Path("templates")
    #: Style files larger than this are refused (a style is a few hundred bytes of YAML).
    max_style_bytes: int = Field(default=64 * 1024, gt=0)
    models: ModelsConfig | None = None
    images: ImageLimits = ImageLimits()
    generation: GenerationConfig = GenerationConfig()
    queue: QueueConfig = QueueConfig()

    @model_validator(mode="after")
    def _models_for_full(self) -> RuntimeConfig:
        if self.preset == "full" and self.models is None:
            raise ValueError("preset 'full' needs a models section")
        return self


def format_validation_error(source: Path | str, error: ValidationError, *, prefix: str = "") -> str:
    """One line per problem: file, dotted field, what was expected."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        lines.append(f"{source}: {where or '(top level)'}: {item['msg']}")
    return "\n".join(lines)


def load_config_section(path: Path | str, section: str, model: type[M], *, overrides: dict | None = None) -> M:
    """Read one top-level section of a YAML config file and validate it with ``model``.

    Raises
    ------
    ConfigError
        The file is missing, not YAML, or a field is invalid (the message names file and field).
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    values = dict(document.get(section) or {})
    values.update(overrides or {})
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc, prefix=section)) from exc


def load_runtime_config(path: Path | str, *, overrides: dict | None = None) -> RuntimeConfig:
    """Read and validate the ``runtime`` section of a config file; relative paths follow the file.

    Raises
    ------
    ConfigError
        The file is missing, not YAML, or a field is invalid (the message names file and field).
    """
    path = Path(path)
    config = load_config_section(path, "runtime", RuntimeConfig, overrides=overrides)
    base = path.parent
    return config.model_copy(
        update={
            "cache_dir": _relative_to(base, config.cache_dir),
            "styles_dir": _relative_to(base, config.styles_dir),
            "templates_dir": _relative_to(base, config.templates_dir),
            "models": config.models and _models_relative_to(base, config.models),
        }
    )


def _relative_to(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path


def _ref_relative_to(base: Path, ref: ModelRef | None) -> ModelRef | None:
    if ref is None or ref.path is None:
        return ref
    return ref.model_copy(update={"path": _relative_to(base, ref.path)})


def _models_relative_to(base: Path, models: ModelsConfig) -> ModelsConfig:
    """Local model paths in config.yaml follow the file, like every other path in it."""
    return models.model_copy(
        update={
            "base_models": {
                name: pair.model_copy(
                    update={
                        "diffusers": _ref_relative_to(base, pair.diffusers),
                        "adapter": _ref_relative_to(base, pair.adapter),
                    }
                )
                for name, pair in models.base_models.items()
            },
            "transface": _ref_relative_to(base, models.transface),
            "controlnet_openpose": _ref_relative_to(base, models.controlnet_openpose),
            "controlnet_canny": _ref_relative_to(base, models.controlnet_canny),
            "openpose_annotator": _ref_relative_to(base, models.openpose_annotator),
            "default_lora": _ref_relative_to(base, models.default_lora),
            "safety_checker": _ref_relative_to(base, models.safety_checker),
        }
    )
