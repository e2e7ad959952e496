"""The pipelines: the only place that knows the order of a job's stages. Imports torch.

``FactEngine`` hands each request to ``PortraitPipeline``, ``IdentityPipeline`` or the
inpainting recipe's pipeline (``OriginalInpaintPipeline``, ``FastInpaintPipeline``, over the
shared ``InpaintPipeline``), whose ``__call__`` is the whole job in numbered steps over the stages
in ``stages``, ``references``, ``diffusion``, ``crop`` and ``finishing``; the original inpainting
recipe's own stages are in ``inpaint_stages``, ``recipe_masks``, ``warp`` and ``control_inpaint``.
"""

from __future__ import annotations

from .engine import FactEngine
from .identity import IdentityPipeline
from .inpaint import InpaintPipeline
from .inpaint_fast import FastInpaintPipeline
from .inpaint_original import OriginalInpaintPipeline
from .portrait import PortraitPipeline

__all__ = [
    "FactEngine",
    "FastInpaintPipeline",
    "IdentityPipeline",
    "InpaintPipeline",
    "OriginalInpaintPipeline",
    "PortraitPipeline",
]
