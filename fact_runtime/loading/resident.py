"""A resident SD1.5 base model: its pipelines over one set of weights, its FACT encoder and its LoRAs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diffusers import (
        ControlNetModel,
        StableDiffusionControlNetInpaintPipeline,
        StableDiffusionControlNetPipeline,
        StableDiffusionImg2ImgPipeline,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
    )

    from ..fact import FaceEncoder
    from .hotswap import HotSwapLoras
    from .lora import StyleLoras

__all__ = ["SCHEDULERS", "ResidentBase", "make_scheduler"]

#: Config name -> (diffusers scheduler class, extra config). "pndm" is the original's sampler and,
#: like the original's ``PNDMScheduler.from_config``, takes the base model's config as it is
#: (its own ``skip_prk_steps`` included); "dpmpp_2m" (DPM-Solver++ 2M) reaches similar quality in
#: about half the steps, with Karras sigmas ("dpmpp_2m_karras", the fast tier) in fewer still. The
#: few-step distilled LoRAs of the turbo tier want their own: Hyper-SD DDIM with trailing timesteps,
#: TCD its TCD scheduler, LCM-LoRA the LCM one.
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "pndm": ("PNDMScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "ddim_trailing": ("DDIMScheduler", {"timestep_spacing": "trailing"}),
    "tcd": ("TCDScheduler", {}),
    "lcm": ("LCMScheduler", {}),
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
    loras: StyleLoras | HotSwapLoras
    #: The base model's own scheduler config: every scheduler kind shares its noise schedule.
    scheduler_config: Any
    _schedulers: dict[tuple[str, bool], Any] = field(default_factory=dict, init=False)
    _control: StableDiffusionControlNetPipeline | None = field(default=None, init=False)
    _inpaint: StableDiffusionInpaintPipeline | None = field(default=None, init=False)
    _img2img: StableDiffusionImg2ImgPipeline | None = field(default=None, init=False)
    _control_inpaint: StableDiffusionControlNetInpaintPipeline | None = field(default=None, init=False)

    def scheduler(self, name: str, *, is_sd_inpaint: bool = False) -> Any:
        """The scheduler of kind ``name`` for this base, made once, on the base model's own config.

        ``is_sd_inpaint``: the variant diffusers' ``StableDiffusionInpaintPipeline`` accepts, which
        refuses PNDM's Runge-Kutta warm-up steps (it rewrites ``skip_prk_steps`` to true).
        """
        key = (name, is_sd_inpaint)
        if key not in self._schedulers:
            config = dict(self.scheduler_config)
            if is_sd_inpaint and name == "pndm":
                config["skip_prk_steps"] = True
            self._schedulers[key] = make_scheduler(name, config)
        return self._schedulers[key]

    def inpaint(self) -> StableDiffusionInpaintPipeline:
        """An inpainting pipeline over the same UNet, VAE and text encoder (no new weights)."""
        if self._inpaint is None:
            from diffusers import StableDiffusionInpaintPipeline

            components = _shared_components(self.text2img)
            if "skip_prk_steps" in components["scheduler"].config:
                # What that pipeline's constructor would otherwise rewrite, with a warning.
                components["scheduler"] = self.scheduler("pndm", is_sd_inpaint=True)
            self._inpaint = StableDiffusionInpaintPipeline(**components)
            self._inpaint.set_progress_bar_config(disable=True)
        return self._inpaint

    def img2img(self) -> StableDiffusionImg2ImgPipeline:
        """An image-to-image pipeline over the same UNet (FACT included), VAE and text encoder (no new weights)."""
        if self._img2img is None:
            from diffusers import StableDiffusionImg2ImgPipeline

            self._img2img = StableDiffusionImg2ImgPipeline(**_shared_components(self.text2img))
            self._img2img.set_progress_bar_config(disable=True)
        return self._img2img

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

    def control_inpaint(self, controlnets: Sequence[ControlNetModel]) -> StableDiffusionControlNetInpaintPipeline:
        """An inpainting pipeline steered by several ControlNets at once, over the same components.

        Built on the first job that needs it (the original inpainting recipe, with its OpenPose and
        canny ControlNets); the ControlNets get FACT's text-only processors like ``control``'s.
        """
        if self._control_inpaint is None:
            from diffusers import StableDiffusionControlNetInpaintPipeline

            from ..fact import attach_fact

            # A list becomes diffusers' MultiControlNetModel: one conditioning image and scale per net.
            pipe = StableDiffusionControlNetInpaintPipeline(
                **_shared_components(self.text2img), controlnet=list(controlnets)
            )
            attach_fact(pipe)
            pipe.set_progress_bar_config(disable=True)
            self._control_inpaint = pipe
        return self._control_inpaint


def _shared_components(pipe: StableDiffusionPipeline) -> dict[str, Any]:
    return {
        "vae": pipe.vae,
        "text_encoder": pipe.text_encoder,
        "tokenizer": pipe.tokenizer,
        "unet": pipe.unet,
        # A copy: a pipeline's constructor may rewrite its scheduler's config, and each job sets
        # the scheduler it runs with anyway.
        "scheduler": type(pipe.scheduler).from_config(pipe.scheduler.config),
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }
