"""Value types that cross the runtime boundary: what a job asks for (its outcome: ``results``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

__all__ = [
    "BaseTokens",
    "FaceAnalysis",
    "FollowUpRequest",
    "GroupFace",
    "GroupRequest",
    "IdentityRequest",
    "InpaintRecipe",
    "InpaintRequest",
    "JobRequest",
    "PortraitRequest",
    "SavedFace",
    "SpeedTier",
    "Subject",
    "UpscaleRequest",
    "UpscaleScale",
    "VaryRequest",
]

#: How the prompt names the person. The original guessed it with a face-attribute model;
#: we let the user choose and default to neutral wording.
Subject = Literal["person", "man", "woman", "boy", "girl"]

#: How many times wider and taller an upscale makes an image.
UpscaleScale = Literal[2, 4]

#: How a template face is inpainted: the original app's five passes, or one fast pass.
InpaintRecipe = Literal["original", "fast"]

#: How a job trades time for fidelity: ``original`` (the reference recipe), ``fast`` (DPM-Solver++
#: at fewer steps with the UNet's deep features reused between steps), ``turbo`` (a few-step
#: distilled LoRA stacked with the style's).
SpeedTier = Literal["original", "fast", "turbo"]


@dataclass(frozen=True, slots=True)
class FaceAnalysis:
    """Where the worker found the face in a photo, in the photo's own pixels, and its identity embedding."""

    #: (x0, y0, x1, y1).
    box: tuple[float, float, float, float]
    #: dlib's 68 landmarks as 136 numbers: x0, y0, x1, y1, ...
    landmarks68: tuple[float, ...]
    #: dlib's 128-d identity embedding (the reference for ranking).
    embedding: tuple[float, ...]
    score: float = 1.0


@dataclass(frozen=True, slots=True)
class BaseTokens:
    """One base model's FACT face tokens for K photos, as ``.npy`` bytes.

    The array is float32 of shape (2, 16 * K, width): the face tokens, then the null-face tokens
    (the resampler of zeros) that classifier-free guidance pairs with them.
    """

    base_id: str
    npy: bytes


@dataclass(frozen=True, slots=True)
class SavedFace:
    """What a saved identity keeps besides its photos: the selfie's face and the tokens of every photo.

    A request carrying it skips face analysis and encoding on the worker. Its tokens cover the
    request's ``selfie`` and then its ``references``, in that order.
    """

    analysis: FaceAnalysis
    tokens: tuple[BaseTokens, ...]
    #: The identity job's result: which of the photos it was given is the best (0-based) ...
    best_index: int = 0
    #: ... and each photo's identity distance to that best photo (0.0 for the best itself).
    distances: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class PortraitRequest:
    """One selfie and a style in, ``count`` portraits out."""

    user_id: str
    selfie: bytes
    style_id: str
    count: int = 1
    seed: int | None = None
    prompt: str = ""
    subject: Subject = "person"
    pose: bytes | None = None
    #: Further photos of the same person; their face tokens follow the selfie's.
    references: tuple[bytes, ...] = ()
    #: The precomputed face of ``selfie`` (+ ``references``), e.g. from a saved identity.
    face: SavedFace | None = None
    #: ``None``: the server's ``speed.default``.
    speed: SpeedTier | None = None


@dataclass(frozen=True, slots=True)
class InpaintRequest:
    """Put the selfie's face into a template photo, replacing face ``face_index`` (1-based, from the left)."""

    user_id: str
    selfie: bytes
    template: bytes | None = None
    template_id: str | None = None
    face_index: int = 1
    count: int = 1
    seed: int | None = None
    subject: Subject = "person"
    recipe: InpaintRecipe | None = None  #: ``None``: the server's ``generation.inpaint_recipe``.
    #: Further photos of the same person; their face tokens follow the selfie's.
    references: tuple[bytes, ...] = ()
    #: The precomputed face of ``selfie`` (+ ``references``), e.g. from a saved identity.
    face: SavedFace | None = None
    speed: SpeedTier | None = None  #: ``None``: the server's ``speed.default``.
    start: bytes | None = None  #: A follow-up's picture, as ``GroupRequest.start``; ``None``: the template.
    scale: Literal[1, 2] = 1  #: As ``GroupRequest.scale``.
    strength: float | None = None  #: As ``GroupRequest.strength``.


@dataclass(frozen=True, slots=True)
class IdentityRequest:
    """Photos of one person in; their checked and encoded face out (``JobResult.face``), to be saved.

    Every photo is checked like a selfie (decoding, size, one clear face), the set is checked to
    show one person, and the best photo (largest, sharpest face) comes first in the tokens.
    """

    user_id: str
    photos: tuple[bytes, ...]

    @property
    def count(self) -> int:
        """Images the job makes: none."""
        return 0


@dataclass(frozen=True, slots=True)
class GroupFace:
    """One (face position, identity) pair of a group photo: the template face and the saved identity put there."""

    #: The template face it fills, 1-based and counted from the left.
    face_index: int
    #: Whose identity this is: a ``/forget`` of theirs concerns the job too.
    user_id: str
    #: The identity's best photo (``SavedFace.best_index``): fused into its face and ranked against.
    photo: bytes
    #: Where the face lies on ``photo``, and the stored face tokens of every photo of the identity,
    #: used as they are (a group job never encodes a face).
    face: SavedFace
    subject: Subject = "person"


@dataclass(frozen=True, slots=True)
class GroupRequest:
    """Several saved identities into one template, each into its own face, ``count`` filled templates out.

    The faces are painted left to right, each pass keeping those done before it, at the template's own size.
    A follow-up paints the faces again on ``start``, a filled copy (``scale`` times larger, at ``strength``).
    """

    #: Who asked: the job counts to them in the fair queue.
    user_id: str
    faces: tuple[GroupFace, ...]
    template: bytes | None = None
    template_id: str | None = None
    count: int = 1
    seed: int | None = None
    recipe: InpaintRecipe | None = None  #: ``None``: the server's ``generation.inpaint_recipe``.
    speed: SpeedTier | None = None  #: Every face's pass runs at this tier; ``None``: the server's ``speed.default``.
    start: bytes | None = None  #: The picture the passes paint on (a filled copy); ``None``: the template.
    scale: Literal[1, 2] = 1  #: How many times wider and taller than ``start`` the result is.
    strength: float | None = None  #: Share of each face's passes redrawn; ``None``: full, or an upscale's configured.


@dataclass(frozen=True, slots=True)
class FollowUpRequest:
    """What an upscale and a variation share: the parent result image and the parent job's
    identity (``selfie``/``references`` or its saved ``face``), style, prompt, subject and speed tier."""

    user_id: str
    #: The parent result image (PNG, as the job posted it).
    image: bytes
    selfie: bytes
    style_id: str
    seed: int | None = None
    prompt: str = ""
    subject: Subject = "person"
    references: tuple[bytes, ...] = ()
    face: SavedFace | None = None
    #: ``None``: the server's ``speed.default`` (the bot passes the parent job's tier).
    speed: SpeedTier | None = None
    #: Images the job makes: one.
    count: ClassVar[int] = 1


@dataclass(frozen=True, slots=True)
class UpscaleRequest(FollowUpRequest):
    """One result image made ``scale`` times wider and taller: enlarged, then redrawn lightly (a "hires fix")
    with the parent image's ``seed``, so the picture keeps its look and only gains detail."""

    scale: UpscaleScale = 2
    #: How much of the enlarged image is redrawn (0 to 1); ``None``: ``generation.upscale_strength``.
    strength: float | None = None


@dataclass(frozen=True, slots=True)
class VaryRequest(FollowUpRequest):
    """A result image redrawn at ``strength`` (0.3 subtle, 0.6 strong) with a new ``seed``, same identity, style, size."""

    strength: float = field(kw_only=True)


#: What the executor queues.
JobRequest = PortraitRequest | InpaintRequest | IdentityRequest | GroupRequest | UpscaleRequest | VaryRequest
