"""DeepCache-style feature reuse: the UNet's deep blocks run every few steps, the steps between reuse their output.

Adjacent denoising steps change the UNet's deep (low-resolution) features very little, so a
"shallow" step runs only the first down block and the last up block and takes everything deeper
from the last full step (Ma et al., DeepCache, 2023). The pipeline's ControlNet, whose residuals
feed the same skip connections, is reused the same way.

Written here rather than taken from the ``DeepCache`` package: that helper finds the step by
looking the timestep up in the scheduler's list (wrong for PNDM's repeated warm-up timestep),
keeps its cache across pipeline calls (the next batch's first steps would reuse the previous
batch's features) and never skips the ControlNet. The FACT processors sit inside the attention
blocks and are not touched.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from torch import nn

__all__ = ["reuse_deep_features"]

log = logging.getLogger(__name__)


class _DeepCache:
    """One pipeline call's cache: the output of every skipped module at the last full step."""

    def __init__(self, interval: int) -> None:
        self.interval = interval
        #: UNet calls made in this pipeline call.
        self.calls = 0
        self.outputs: dict[int, Any] = {}

    def is_full(self) -> bool:
        return self.calls % self.interval == 0 or not self.outputs

    def wrap(self, module: nn.Module, originals: dict[nn.Module, Callable[..., Any] | None]) -> None:
        originals[module] = vars(module).get("forward")
        forward = module.forward
        key = id(module)

        def cached_forward(*args: Any, **kwargs: Any) -> Any:
            if self.is_full():
                self.outputs[key] = forward(*args, **kwargs)
            return self.outputs[key]

        module.forward = cached_forward

    def wrap_unet(self, unet: nn.Module, originals: dict[nn.Module, Callable[..., Any] | None]) -> None:
        originals[unet] = vars(unet).get("forward")
        forward = unet.forward

        def counted_forward(*args: Any, **kwargs: Any) -> Any:
            try:
                return forward(*args, **kwargs)
            finally:
                self.calls += 1

        unet.forward = counted_forward


@contextlib.contextmanager
def reuse_deep_features(unet: Any, *, interval: int, controlnet: nn.Module | None = None) -> Iterator[None]:
    """Within the block, the UNet's deep blocks (and ``controlnet``) run every ``interval``-th call only.

    The block holds one pipeline call (one batch): every call of it has the same shapes. The
    ControlNet runs before the UNet in a step, so both go by the UNet calls made so far.
    ``interval`` 1 changes nothing. Everything is put back on exit, so the next call starts with a
    full step and an empty cache.
    """
    if interval <= 1:
        yield
        return
    cache = _DeepCache(interval)
    #: Each wrapped module's own instance ``forward`` (a hook's), or None for the class's.
    originals: dict[nn.Module, Callable[..., Any] | None] = {}
    deep = [*unet.down_blocks[1:], unet.mid_block, *unet.up_blocks[:-1]]
    try:
        for module in [*deep, *([controlnet] if controlnet is not None else [])]:
            cache.wrap(module, originals)
        cache.wrap_unet(unet, originals)
        yield
    finally:
        for module, original in originals.items():
            if original is None:
                vars(module).pop("forward", None)
            else:
                module.forward = original
        log.debug("deep features: %d UNet calls, one full in %d", cache.calls, interval)
