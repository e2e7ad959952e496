"""The pipelines: the only place that knows the order of a job's stages. Imports torch.

``FactEngine`` hands each request to ``PortraitPipeline`` or ``InpaintPipeline``, whose
``__call__`` is the whole job in numbered steps over the stages in ``stages``, ``diffusion``,
``crop`` and ``finishing``; the original inpainting recipe's own stages are in
``inpaint_stages``, ``recipe_masks``, ``warp`` and ``control_inpaint``.
"""

from __future__ import annotations

from .engine import FactEngine
from .inpaint import InpaintPipeline
from .portrait import PortraitPipeline

__all__ = ["FactEngine", "InpaintPipeline", "PortraitPipeline"]
