"""Typed errors of the runtime: every failure a caller can see has a class and a stable kind."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ContentBlocked",
    "FaceIndexOutOfRange",
    "FaceTooSmall",
    "FactError",
    "IdentityMismatch",
    "ImageTooLarge",
    "ImageTooSmall",
    "ImageUnreadable",
    "IncompatibleMessage",
    "InputError",
    "InvalidRequest",
    "JobCancelled",
    "JobFailed",
    "JobTimedOut",
    "ModelError",
    "ModelMissing",
    "NoFaceFound",
    "NoPoseFound",
    "OutOfMemory",
    "PoseUnavailable",
    "QueueFull",
    "RuntimeDead",
    "SeveralFaces",
    "StyleError",
    "UnknownStyle",
    "UnknownTemplate",
    "UnsupportedImage",
    "UserLimitReached",
    "WeightsMismatch",
]


class FactError(Exception):
    """Base of every error the runtime raises on purpose."""

    kind: str = "fact_error"
    #: One sentence a user may read. Subclasses that users can cause override it.
    user_message: str = "Something went wrong while making your portrait."

    def __init__(self, detail: str | None = None, *, user_message: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        if user_message is not None:
            self.user_message = user_message


class InputError(FactError):
    """The request itself is unusable; retrying the same input will fail the same way."""

    kind = "input_error"
    user_message = "That input could not be used."


class UnsupportedImage(InputError):
    kind = "unsupported_image"
    user_message = "That file is not a supported image; please send a JPEG, PNG or WebP photo."


class ImageUnreadable(InputError):
    kind = "image_unreadable"
    user_message = "That image could not be read; it may be damaged. Please send another photo."


class ImageTooLarge(InputError):
    kind = "image_too_large"
    user_message = "That image is too large; please send a smaller photo."

    @classmethod
    def by_bytes(cls, size: int, cap: int, *, name: str = "image") -> ImageTooLarge:
        """Over the byte cap (``images.max_bytes``)."""
        return cls(
            f"{name}: {size} bytes > cap {cap}",
            user_message=f"That image is {_megabytes(size)}; please send one under {_megabytes(cap)}.",
        )

    @classmethod
    def by_pixels(cls, cap: int, size: tuple[int, int] | None = None, *, name: str = "image") -> ImageTooLarge:
        """Over the pixel cap (``images.max_pixels``); ``size`` is (width, height) when known."""
        shown = "" if size is None else f" ({size[0]}x{size[1]})"
        return cls(
            f"{name}: more than {cap} pixels{shown}",
            user_message=f"That image has too many pixels{shown}; please send one under {cap / 1e6:g} megapixels.",
        )


class ImageTooSmall(InputError):
    kind = "image_too_small"
    user_message = "That image is too small; please send a larger photo."

    @classmethod
    def below(cls, width: int, height: int, min_side: int, *, name: str = "image") -> ImageTooSmall:
        """Shorter side under ``images.min_side``."""
        return cls(
            f"{name}: {width}x{height} < min side {min_side}",
            user_message=(
                f"That image is only {width}x{height} pixels; please send one at least {min_side} pixels on each side."
            ),
        )


class NoFaceFound(InputError):
    kind = "no_face"
    user_message = "No face was found in that photo; please send a clear, front-facing selfie."


class FaceTooSmall(InputError):
    kind = "face_too_small"
    user_message = "The face in that photo is too small; please send a closer selfie."


class SeveralFaces(InputError):
    """A photo for a saved identity shows more than one face: which one is the member cannot be guessed."""

    kind = "several_faces"
    user_message = "That photo shows several faces; please use photos that show only you."


class IdentityMismatch(InputError):
    """The photos given for one identity do not all show the same person; the sentence names the odd one."""

    kind = "identity_mismatch"
    user_message = "Those photos do not all show the same person; please use photos of one person only."


class FaceIndexOutOfRange(InputError):
    kind = "face_index_out_of_range"
    user_message = "The template does not have that many faces; pick a lower face number."


class UnknownStyle(InputError):
    kind = "unknown_style"
    #: Neutral: each front end adds where its styles are listed (autocomplete, ``fact_runtime styles``).
    user_message = "That style does not exist."


class UnknownTemplate(InputError):
    kind = "unknown_template"
    user_message = "That built-in template does not exist."


class PoseUnavailable(InputError):
    """A pose photo needs the OpenPose annotator, and this server has none configured (or cached)."""

    kind = "pose_unavailable"
    user_message = "Pose photos are not available on this server; send an OpenPose skeleton image instead."


class NoPoseFound(InputError):
    kind = "no_pose"
    user_message = (
        "No body pose was found in that pose image; send a photo showing a whole person, or a skeleton image."
    )


class InvalidRequest(InputError):
    kind = "invalid_request"
    user_message = "Those options are not valid; please check them and try again."


class StyleError(FactError):
    """A style file is invalid; the message names the file and the field."""

    kind = "style_error"
    user_message = "The style files are invalid; please tell a server admin."


class ConfigError(FactError):
    """config.yaml is invalid; the message names the file and the field."""

    kind = "config_error"


class ModelError(FactError):
    kind = "model_error"
    user_message = (
        "A model this job needs is not available on this server; please try another style, or tell a server admin."
    )


class ModelMissing(ModelError):
    """A model is not in the cache and cannot be fetched; the message names it and the path."""

    kind = "model_missing"

    @classmethod
    def named(cls, what: str, detail: str) -> ModelMissing:
        """A missing model whose user sentence names it (``what``: "style LoRA", "ControlNet openpose")."""
        return cls(
            detail,
            user_message=f"The {what} this job needs is not available on this server; "
            "please try another style, or tell a server admin.",
        )


class WeightsMismatch(ModelError):
    """A weight file does not match the module: names the missing, unexpected or mis-shaped tensors."""

    kind = "weights_mismatch"
    user_message = "A model file on this server is damaged or of the wrong kind; please tell a server admin."


class ContentBlocked(FactError):
    """The safety filter withheld every image of a job; partly withheld jobs succeed with a note instead."""

    kind = "content_blocked"
    user_message = "The images were withheld by the safety filter; try another style or prompt."


class QueueFull(FactError):
    kind = "queue_full"
    user_message = "The queue is full right now; please try again in a few minutes."


class UserLimitReached(FactError):
    kind = "user_limit"
    user_message = "You already have the most unfinished jobs allowed; wait for one to finish or /cancel one."

    @classmethod
    def at(cls, limit: int) -> UserLimitReached:
        """The refusal for a member who already has ``limit`` unfinished jobs (``queue.max_per_user``)."""
        jobs = f"{limit} unfinished job{'s' * (limit != 1)}"
        return cls(
            f"the user has {jobs}",
            user_message=f"You already have {jobs}, the most allowed; wait for one to finish or /cancel one.",
        )


class JobCancelled(FactError):
    kind = "cancelled"
    user_message = "The job was cancelled."


class JobTimedOut(FactError):
    kind = "timed_out"
    user_message = "The job took too long and was stopped; please try again."


class JobFailed(FactError):
    kind = "job_failed"
    user_message = "Making your portrait failed; please try again."


class OutOfMemory(FactError):
    """The device ran out of memory; the executor retries once with a smaller batch."""

    kind = "out_of_memory"
    user_message = "The GPU ran out of memory for that job; please try fewer images."

    def __init__(self, detail: str | None = None, *, batch: int | None = None) -> None:
        super().__init__(detail)
        #: Images per UNet call when memory ran out; None when the engine cannot say.
        self.batch = batch


class RuntimeDead(FactError):
    kind = "runtime_dead"
    user_message = "The portrait engine has stopped; please try again later."


class IncompatibleMessage(FactError):
    """A broker message of another schema version, or one that does not parse; its job only fails."""

    kind = "incompatible_message"
    user_message = "The portrait workers could not read this job (they run another version); please try again later."


def _megabytes(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
