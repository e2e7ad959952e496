"""A resident SD1.5 base model: its pipelines over one set of weights, its FACT encoder and its LoRAs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .lora import StyleLoras

if TYPE_CHECKING:
    from diffusers import (
        ControlNetModel,
        StableDiffusionControlNetPipeline,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
    )

    from ..fact import FaceEncoder

__all__ = ["SCHEDULERS", "ResidentBase", "make_scheduler"]

#: Config name -> (diffusers scheduler class, extra config). "pndm" is the original's sampler and,
#: like the original's ``PNDMScheduler.from_config``, takes the base model's config as it is
#: (its own ``skip_prk_steps`` included); "dpmpp_2m" (DPM-Solver++ 2M) reaches similar quality in
#: about half the steps.
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "pndm": ("PNDMScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
}


def make_scheduler(name: str, base_config: Any) -> Any:
    """A fresh scheduler of kind ``name`` sharing the base model's noise schedule."""
    import diffusers

    class_name, extra = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(base_config, **extra)


@dataclass(slots=True, eq=False)
class ResidentBase:
    """One resident SD1.5 base: its pipelines (sharing one set of weights), FACT encoder and LoRAs."""

    base_id: str
    text2img: StableDiffusionPipeline
    encoder: FaceEncoder
    loras: StyleLoras
    #: The base model's own scheduler config: every scheduler kind shares its noise schedule.
    scheduler_config: Any
    _schedulers: dict[str, Any] = field(default_factory=dict, init=False)
    _control: StableDiffusionControlNetPipeline | None = field(default=None, init=False)
    _inpaint: StableDiffusionInpaintPipeline | None = field(default=None, init=False)

    def scheduler(self, name: str) -> Any:
        """The scheduler of kind ``name`` for this base, made once."""
        if name not in self._schedulers:
            self._schedulers[name] = make_scheduler(name, self.scheduler_config)
        return self._schedulers[name]

    def inpaint(self) -> StableDiffusionInpaintPipeline:
        """An inpainting pipeline over the same UNet, VAE and text encoder (no new weights)."""
        if self._inpaint is None:
            from diffusers import StableDiffusionInpaintPipeline

            self._inpaint = StableDiffusionInpaintPipeline(**_shared_components(self.text2img))
            self._inpaint.set_progress_bar_config(disable=True)
        return self._inpaint

    def control(self, controlnet: ControlNetModel) -> StableDiffusionControlNetPipeline:
        """A ControlNet pipeline over the same components, built on the first pose job.

        FACT is already on the shared UNet; attaching it here gives the ControlNet its text-only
        processors (fact-reference §2.6).
        """
        if self._control is None:
            from diffusers import StableDiffusionControlNetPipeline

            from ..fact import attach_fact

            pipe = StableDiffusionControlNetPipeline(**_shared_components(self.text2img), controlnet=controlnet)
            attach_fact(pipe)
            pipe.set_progress_bar_config(disable=True)
            self._control = pipe
        return self._control


def _shared_components(pipe: StableDiffusionPipeline) -> dict[str, Any]:
    return {
        "vae": pipe.vae,
        "text_encoder": pipe.text_encoder,
        "tokenizer": pipe.tokenizer,
        "unet": pipe.unet,
        "scheduler": pipe.scheduler,
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }
