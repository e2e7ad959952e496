"""The ``runtime.speed`` settings: which speed tiers a server offers and what each one runs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, model_validator

from .config_base import ModelRef, Strict
from .request import SpeedTier

__all__ = ["SCHEDULER_NAMES", "FastTier", "SchedulerName", "SpeedConfig", "TurboTier"]

#: Every scheduler a recipe or a tier may name (``loading.resident.SCHEDULERS`` builds them).
SchedulerName = Literal["pndm", "dpmpp_2m", "dpmpp_2m_karras", "euler_a", "ddim", "ddim_trailing", "tcd", "lcm"]
SCHEDULER_NAMES: tuple[str, ...] = get_args(SchedulerName)

#: Hyper-SD's 8-step SD1.5 LoRA (ByteDance), trained without classifier-free guidance.
HYPER_SD15_8STEPS = ModelRef(
    model_id="ByteDance/Hyper-SD", revision="master", file="Hyper-SD15-8steps-lora.safetensors"
)


class FastTier(Strict):
    """``fast``: a multistep solver at fewer steps, the UNet's deep features reused between steps."""

    scheduler: SchedulerName = "dpmpp_2m_karras"
    """Scheduler of the fast tier (DPM-Solver++ 2M with Karras sigmas)."""
    steps: int = Field(default=20, ge=1, le=150)
    """Denoising steps of the fast tier, whatever the style sets."""
    cache_interval: int = Field(default=3, ge=1, le=10)
    """The UNet's deep blocks run every this many steps; the steps between reuse their features (1: never reused; always 1 under ``compile``)."""


class TurboTier(Strict):
    """``turbo``: a few-step distilled LoRA stacked with the style's LoRA, on the scheduler it was trained for."""

    lora: ModelRef | None = HYPER_SD15_8STEPS
    """The distilled LoRA (Hyper-SD15, TCD or LCM-LoRA for SD1.5); none: the turbo tier is refused."""
    weight: float = Field(default=1.0, ge=0)
    """Its LoRA multiplier."""
    scheduler: SchedulerName = "ddim_trailing"
    """The scheduler the LoRA needs (Hyper-SD: ``ddim_trailing``; TCD: ``tcd``; LCM-LoRA: ``lcm``)."""
    steps: int = Field(default=8, ge=1, le=50)
    """Denoising steps the LoRA was distilled for."""
    guidance_scale: float = Field(default=0.0, ge=0)
    """Classifier-free guidance; 1 or less turns it off (one UNet evaluation per step). Hyper-SD's CFG LoRAs want 5 to 8."""

    def relative_to(self, base: Path) -> TurboTier:
        """This tier with a relative local LoRA path resolved against ``base`` (the config file's folder)."""
        if self.lora is None or self.lora.path is None or self.lora.path.is_absolute():
            return self
        return self.model_copy(update={"lora": self.lora.model_copy(update={"path": base / self.lora.path})})


class SpeedConfig(Strict):
    default: SpeedTier = "original"
    """The tier of a request that names none: ``original`` (the reference recipe), ``fast`` or ``turbo``."""
    allowed: tuple[SpeedTier, ...] = ("original", "fast", "turbo")
    """The tiers members may choose on this server."""
    fast: FastTier = FastTier()
    """What the ``fast`` tier runs."""
    turbo: TurboTier = TurboTier()
    """What the ``turbo`` tier runs."""
    is_lora_fused: bool = True
    """Fuse the job's LoRAs into the weights (no per-step LoRA cost; a style switch unfuses first). Off under ``compile``."""
    lora_rank_limit: int = Field(default=128, ge=1)
    """Under ``compile``: the highest LoRA rank a style may have (smaller ones are padded to it, so any swaps in)."""
    is_vae_tiled: bool = True
    """Decode images larger than the VAE's tile (512 px for SD1.5) in overlapping tiles, in bounded memory."""

    @model_validator(mode="after")
    def _default_allowed(self) -> SpeedConfig:
        if not self.allowed:
            raise ValueError("allow at least one speed tier")
        if self.default not in self.allowed:
            raise ValueError(f"the default tier {self.default!r} must be one of allowed {list(self.allowed)}")
        return self
