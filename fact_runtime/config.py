"""Typed runtime settings: the ``runtime:`` section of config.yaml, each key overridable from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, model_validator

from .config_base import ModelRef
from .config_base import Strict as _Strict
from .config_source import read_section
from .config_speed import SpeedConfig
from .provenance.settings import ProvenanceConfig

__all__ = [
    "BrokerConfig",
    "GenerationConfig",
    "ImageLimits",
    "ModelRef",
    "ModelsConfig",
    "QueueConfig",
    "RuntimeConfig",
    "load_config_section",
    "load_runtime_config",
]


M = TypeVar("M", bound=BaseModel)


class BaseModelConfig(_Strict):
    """An SD1.5 base model and the FACT adapter file trained for it."""

    diffusers: ModelRef
    """The SD1.5 base model in diffusers layout."""
    adapter: ModelRef
    """The FACT adapter file trained for this base."""


class ModelsConfig(_Strict):
    base_models: dict[str, BaseModelConfig]
    """SD1.5 bases by name; a style's ``base_model`` names one. The first also inpaints templates."""
    transface: ModelRef
    """The TransFace-S face encoder file (shared by every base)."""
    controlnet_openpose: ModelRef
    """The OpenPose ControlNet, loaded on the first job with a pose."""
    controlnet_canny: ModelRef | None = None
    """The canny ControlNet of the original inpainting recipe (fact-reference §1.3); only
    ``generation.inpaint_recipe: original`` needs it, loaded on its first job."""
    openpose_annotator: ModelRef | None = None
    """OpenPose body network that turns pose photos into skeletons; without it only skeleton images work."""
    default_lora: ModelRef | None = None
    """LoRA used when a style names none of its own (fact-reference §1.5)."""
    safety_checker: ModelRef | None = None
    """A diffusers ``StableDiffusionSafetyChecker`` folder (the layout of
    CompVis/stable-diffusion-safety-checker); without it only negative prompts steer away from unsafe output."""
    preview_decoder: ModelRef | None = None
    """A tiny autoencoder (diffusers ``AutoencoderTiny``, TAESD's layout) for previews; else a linear projection."""


class ImageLimits(_Strict):
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    """Largest upload (selfie, pose, template) in bytes."""
    max_pixels: int = Field(default=40_000_000, gt=0)
    """Largest upload in pixels (width x height)."""
    min_side: int = Field(default=128, gt=0)
    """Smallest short side of an upload, in pixels."""
    analysis_side: int = Field(default=1024, gt=0)
    """Long side templates and the faces command are analysed at; larger photos are downscaled first."""
    portrait_selfie_side: int = Field(default=1000, gt=0)
    """Long side a selfie is used at for a portrait (the original's 1000 px, fact-reference §4.2 step 2)."""
    inpaint_selfie_side: int = Field(default=2000, gt=0)
    """Long side a selfie is used at for inpainting (the original's 2000 px, fact-reference §4.3 C)."""


class GenerationConfig(_Strict):
    width: int = Field(default=512, gt=0, multiple_of=8)
    """Portrait width in pixels (multiple of 8)."""
    height: int = Field(default=512, gt=0, multiple_of=8)
    """Portrait height in pixels (multiple of 8)."""
    scheduler: Literal["pndm", "dpmpp_2m", "euler_a", "ddim"] = "pndm"
    """Diffusion scheduler; ``dpmpp_2m`` with 25 steps is the fast choice."""
    num_inference_steps: int = Field(default=50, ge=1, le=150)
    """Denoising steps when a style sets none."""
    guidance_scale: float = Field(default=7.0, ge=0)
    """Classifier-free guidance of portraits whose style sets none (the original's text-to-image 7.0)."""
    adapter_scale: float = Field(default=0.5, ge=0)
    """FACT scale of text-to-image denoising: portraits whose style sets none, and the original
    inpainting recipe's pose pass (0.5 in both places of the original)."""
    inpaint_recipe: Literal["original", "fast"] = "original"
    """``original``: the original app's five passes (pose pass, fusion, warped paste, ControlNet
    inpaint, refinement); ``fast``: one inpainting pass. A request may choose its own."""
    inpaint_guidance_scale: float = Field(default=5.0, ge=0)
    """Classifier-free guidance of every inpainting pass, either recipe (the original's 5.0)."""
    inpaint_adapter_scale: float = Field(default=0.55, ge=0)
    """FACT scale of the inpainting denoising passes (the original's 0.55)."""
    inpaint_strength: float = Field(default=0.6, gt=0, le=1)
    """How much of the template's face region is repainted (0 to 1)."""
    max_count: int = Field(default=4, ge=1, le=10)
    """Most images per job (the commands' count option)."""
    max_photos: int = Field(default=4, ge=1, le=8)
    """Photos of one person a job may take (a saved identity's photos); each adds 16 face tokens."""
    max_group_faces: int = Field(default=4, ge=2, le=8)
    """Most faces one group photo fills (``python -m fact_runtime group``); each face is inpainted in passes of its own."""
    max_batch: int = Field(default=4, ge=1)
    """Most images per UNet call; lower it if the GPU runs out of memory."""
    is_face_fusion_enabled: bool = True
    """Blend the selfie's face into each result."""
    face_fusion_strength: float = Field(default=0.6, ge=0, le=1)
    """How strongly the selfie's face is blended in."""
    is_ranking_enabled: bool = True
    """Order a job's images by likeness to the selfie."""
    is_safety_check_enabled: bool = True
    """Withhold images the safety checker flags; only acts when ``models.safety_checker`` is set."""
    upscale_strength: float = Field(default=0.4, gt=0, le=1)
    """How much of an enlarged image an upscale redraws (0 to 1): low keeps the picture, high adds detail and drift."""
    preview_interval_s: float = Field(default=5.0, ge=0)
    """Seconds between two previews of the image forming (decoded from the latents); 0 turns previews off."""


class QueueConfig(_Strict):
    max_queued: int = Field(default=50, ge=1)
    """Most jobs waiting; more are refused until the queue shortens."""
    max_per_user: int = Field(default=2, ge=1)
    """Most unfinished jobs per member (``/settings user-limit`` can lower it per server)."""
    job_timeout_s: float = Field(default=600.0, gt=0)
    """A running job is stopped after this many seconds."""
    step_timeout_s: float = Field(default=120.0, gt=0)
    """A stage or denoising step running longer than this fails its job at once (``JobTimedOut``)."""
    hang_timeout_s: float = Field(default=300.0, gt=0)
    """A worker silent this long (a step that never returns) marks the runtime dead: restart the process."""
    close_timeout_s: float = Field(default=5.0, gt=0)
    """close() waits this long for an interrupted job to stop, then leaves the worker thread behind."""
    is_drain_on_close: bool = True
    """On close, let the running job finish (the bot interrupts it instead and re-queues it at the next start)."""

    @model_validator(mode="after")
    def _hang_after_step(self) -> QueueConfig:
        # The stuck job must be failed (and so not re-queued after the restart) before the runtime dies.
        if self.hang_timeout_s <= self.step_timeout_s:
            raise ValueError("hang_timeout_s must be longer than step_timeout_s")
        return self


class BrokerConfig(_Strict):
    """How the bot and the worker processes use Redis Streams (``runtime.backend: redis``)."""

    prefix: str = Field(default="fact", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """Every key, stream and consumer group of one deployment starts with this."""
    heartbeat_s: float = Field(default=2.0, gt=0)
    """A worker renews its presence (and its claim on the running job) this often."""
    lost_after_s: float = Field(default=15.0, gt=0)
    """A worker silent this long is gone: another worker re-runs its job. More than twice ``heartbeat_s``."""
    on_sigterm: Literal["finish", "hand_back"] = "finish"
    """A worker's running job on SIGTERM: ``finish`` it, or ``hand_back`` (stop at the next step, back to the stream)."""
    key_file: Path | None = None
    """File holding the key that seals every message in Redis (``python -m fact_runtime broker-key`` makes one); ``FACT_BROKER_KEY`` wins over it. The bot and every worker need the same key."""

    @model_validator(mode="after")
    def _heartbeat_within_loss(self) -> BrokerConfig:
        if self.lost_after_s <= 2 * self.heartbeat_s:
            raise ValueError("lost_after_s must be more than twice heartbeat_s, or live workers look lost")
        return self


class RuntimeConfig(_Strict):
    preset: Literal["full", "tiny"] = "full"
    """``full``: the real models; ``tiny``: small random models built offline (tests, trying it out)."""
    backend: Literal["local", "redis"] = "local"
    """Where jobs run: ``local``, a worker thread in the bot's process; ``redis``, worker processes (one per GPU, any host) fed through Redis Streams."""
    redis_url: str = Field(default="redis://localhost:6379/0", pattern=r"^(redis|rediss|unix)://")
    """The Redis server of ``backend: redis``; also the workers' default."""
    broker: BrokerConfig = BrokerConfig()
    """How the bot and its workers use Redis (``backend: redis``); every worker must agree."""
    device: str = "auto"
    """``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """``auto``: float16 on CUDA, float32 on CPU."""
    cache_dir: Path = Path("cache/models")
    """Where downloaded models are kept (ModelScope's cache layout)."""
    styles_dir: Path = Path("styles")
    """Folder of the style files (one YAML per style)."""
    templates_dir: Path = Path("templates")
    """Built-in inpainting templates: image files whose name without extension is the template id."""
    max_style_bytes: int = Field(default=64 * 1024, gt=0)
    """Style files larger than this are refused (a style is a few hundred bytes of YAML)."""
    models: ModelsConfig | None = None
    """Every model by ModelScope id + revision or local path; required by the ``full`` preset."""
    images: ImageLimits = ImageLimits()
    """Limits on every uploaded image."""
    generation: GenerationConfig = GenerationConfig()
    """Diffusion defaults and per-job limits."""
    queue: QueueConfig = QueueConfig()
    """The job queue's bounds."""
    speed: SpeedConfig = SpeedConfig()
    """Speed tiers: which ones members may choose, the default, and what each runs."""
    compile: bool = False
    """Run the UNet and ControlNets under ``torch.compile`` (style switches hot-swap LoRAs without recompiling); for CUDA."""
    provenance: ProvenanceConfig = ProvenanceConfig()
    """How every produced image says it is AI-made: watermark, XMP, C2PA."""

    @model_validator(mode="after")
    def _models_for_full(self) -> RuntimeConfig:
        if self.preset == "full" and self.models is None:
            raise ValueError("preset 'full' needs a models section")
        return self


def load_config_section(
    path: Path | str | None, section: str, model: type[M], *, overrides: Mapping[str, Any] | None = None
) -> M:
    """Read one top-level section of a YAML config file, apply its ``FACT_*`` environment overrides, validate.

    Parameters
    ----------
    path:
        The config file (``find_config`` says which); None starts from the defaults.
    overrides:
        Command-line values; they win over the environment, which wins over the file.

    Raises
    ------
    ConfigError
        The file is unreadable or not YAML, or a value is invalid (the message names the file
        and key, or the environment variable).
    """
    return read_section(None if path is None else Path(path), section, model, overrides=overrides)


def load_runtime_config(path: Path | str | None, *, overrides: Mapping[str, Any] | None = None) -> RuntimeConfig:
    """The ``runtime`` section with its environment overrides; relative paths follow the file.

    Without a file (``path`` None) relative paths stay relative to the working directory.

    Raises
    ------
    ConfigError
        The file is unreadable or not YAML, or a value is invalid.
    """
    config = load_config_section(path, "runtime", RuntimeConfig, overrides=overrides)
    base = Path(path).parent if path is not None else Path()
    return config.model_copy(
        update={
            "cache_dir": _relative_to(base, config.cache_dir),
            "styles_dir": _relative_to(base, config.styles_dir),
            "templates_dir": _relative_to(base, config.templates_dir),
            "models": config.models and _models_relative_to(base, config.models),
            "speed": config.speed.model_copy(update={"turbo": config.speed.turbo.relative_to(base)}),
            "provenance": config.provenance.relative_to(base),
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
