"""Previews of the image forming, decoded from the latents without a second VAE, at most every N seconds.

SD1.5's four latent channels are close to a linear mix of RGB, so a fixed 4x3 projection (the
widely used "cheap approximation" coefficients for SD1.x latents) gives a recognisable, blurry
picture at the latents' own resolution (1/8 of the image) for the cost of one small matrix
product. Where ``models.preview_decoder`` names a tiny autoencoder (TAESD's layout), it decodes
the previews instead: sharper, for a few milliseconds. Nothing is watermarked: a preview is never a
result.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from ..results import PreviewReporter

if TYPE_CHECKING:
    from ..config import GenerationConfig
    from ..results import StepReporter

__all__ = [
    "PREVIEW_SIDE",
    "SD15_LATENT_RGB",
    "LatentCallback",
    "PreviewThrottle",
    "decoded_to_rgb",
    "encode_jpeg",
    "latents_to_rgb",
    "preview_callback",
]

log = logging.getLogger(__name__)

#: Called with the latents (batch, 4, h, w) after each denoising step.
LatentCallback = Callable[[torch.Tensor], None]

#: Row c: what latent channel c adds to (R, G, B); the result is roughly in [-1, 1].
SD15_LATENT_RGB = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
_JPEG_QUALITY = 70
#: Long side of a preview in pixels: enough to see the picture form in a Discord embed.
PREVIEW_SIDE = 128


def latents_to_rgb(latents: torch.Tensor, *, side: int) -> np.ndarray:
    """The first image of a batch of SD1.5 latents as uint8 RGB whose long side is ``side``.

    Raises
    ------
    ValueError
        Latents that are not (batch, 4, h, w).
    """
    if latents.ndim != 4 or latents.shape[1] != len(SD15_LATENT_RGB):
        raise ValueError(f"expected SD1.5 latents (batch, 4, h, w), got {tuple(latents.shape)}")
    first = latents[0].detach().to("cpu", torch.float32)
    factors = torch.tensor(SD15_LATENT_RGB, dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", first, factors)
    return _fit(((rgb + 1.0) * 127.5).clamp(0, 255).round().to(torch.uint8).numpy(), side)


def decoded_to_rgb(decoder: Any, latents: torch.Tensor, *, side: int) -> np.ndarray:
    """The first image of a batch of latents through a tiny autoencoder (``AutoencoderTiny``), long side ``side``."""
    with torch.inference_mode():
        first = latents[:1].to(decoder.device, decoder.dtype) / decoder.config.scaling_factor
        # The decoder makes 8 pixels per latent: shrink the latents to the preview's size first, so
        # a 512 px image's preview costs a 128 px decode, not a 512 px one.
        height, width = first.shape[-2:]
        scale = min(1.0, side / (8 * max(height, width)))
        if scale < 1.0:
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            first = torch.nn.functional.interpolate(first, size=size, mode="bilinear", antialias=True)
        decoded = decoder.decode(first).sample[0].float().cpu()  # in [-1, 1]
    pixels = ((decoded.permute(1, 2, 0) + 1.0) * 127.5).clamp(0, 255).round().to(torch.uint8).numpy()
    return _fit(pixels, side)


def _fit(pixels: np.ndarray, side: int) -> np.ndarray:
    height, width = pixels.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))


def encode_jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue()


class PreviewThrottle:
    """A ``LatentCallback`` that sends a JPEG preview to ``sink`` at most every ``interval_s`` of wall time.

    The first preview comes ``interval_s`` after the throttle is made (the first steps are noise);
    between previews a step costs one clock read.
    """

    def __init__(
        self,
        sink: Callable[[bytes], None],
        *,
        interval_s: float,
        side: int,
        decoder: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self._sink = sink
        self._interval_s = interval_s
        self._side = side
        self._decoder = decoder
        self._clock = clock
        self._due_at = clock() + interval_s
        self.sent = 0

    def __call__(self, latents: torch.Tensor) -> None:
        now = self._clock()
        if now < self._due_at:
            return
        self._due_at = now + self._interval_s
        if self._decoder is None:
            rgb = latents_to_rgb(latents, side=self._side)
        else:
            rgb = decoded_to_rgb(self._decoder, latents, side=self._side)
        self._sink(encode_jpeg(rgb))
        self.sent += 1


def preview_callback(
    report: StepReporter, generation: GenerationConfig, decoder: Callable[[], Any] = lambda: None
) -> LatentCallback | None:
    """Previews for a job whose reporter takes them (``PreviewReporter``); ``None`` when it does not or they are off.

    ``decoder`` gives the tiny autoencoder (``ModelStack.preview_decoder``), asked for only when
    previews will be made; ``None`` from it means the linear projection.
    """
    if generation.preview_interval_s <= 0 or not isinstance(report, PreviewReporter):
        return None
    return PreviewThrottle(
        report.preview, interval_s=generation.preview_interval_s, side=PREVIEW_SIDE, decoder=decoder()
    )
