"""Speed tiers: what a job's tier changes in a recipe (scheduler, steps, guidance, feature reuse, turbo LoRA).

A recipe asks its plan for the settings of each denoising pass; ``original`` hands back the
recipe's own, so that tier is the reference recipe unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..limits import check_speed

if TYPE_CHECKING:
    from ..config import RuntimeConfig
    from ..request import SpeedTier

__all__ = ["ORIGINAL", "SpeedPlan", "plan_speed"]


@dataclass(frozen=True, slots=True)
class SpeedPlan:
    """The tier of one job and what it overrides; ``None`` fields keep the recipe's own setting."""

    tier: SpeedTier = "original"
    scheduler: str | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    #: The UNet's deep blocks run every this many UNet calls; 1: every call runs the whole UNet.
    cache_interval: int = 1
    #: The tier stacks the configured few-step LoRA on the style's.
    uses_turbo_lora: bool = False

    def scheduler_for(self, configured: str) -> str:
        return self.scheduler or configured

    def steps_for(self, configured: int, strength: float = 1.0) -> int:
        """Steps of a pass that keeps a ``strength`` share of them; a tier's few steps still leave at least one."""
        if self.steps is None:
            return configured
        # A light pass (strength 0.1) of an 8-step tier would keep no step at all: spread the
        # schedule until one step falls inside it.
        return max(self.steps, math.ceil(1 / strength - 1e-9))

    def guidance_for(self, configured: float) -> float:
        return configured if self.guidance_scale is None else self.guidance_scale


ORIGINAL = SpeedPlan()


def plan_speed(config: RuntimeConfig, requested: SpeedTier | None) -> SpeedPlan:
    """The plan of a request's tier (``None``: the server's default).

    Raises
    ------
    InvalidRequest
        The tier is not in ``speed.allowed``.
    """
    speed = config.speed
    tier = requested or speed.default
    check_speed(tier, speed.allowed)
    if tier == "fast":
        fast = speed.fast
        # The reuse swaps blocks' forward methods per step, which a compiled UNet would recompile for.
        return SpeedPlan("fast", fast.scheduler, fast.steps, None, 1 if config.compile else fast.cache_interval)
    if tier == "turbo":
        turbo = speed.turbo
        return SpeedPlan("turbo", turbo.scheduler, turbo.steps, turbo.guidance_scale, uses_turbo_lora=True)
    return ORIGINAL
