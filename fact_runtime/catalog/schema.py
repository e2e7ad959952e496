"""The schema of one admin-owned style file (prompt, base model, LoRA, diffusion settings) and its prompt."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ..config import ModelRef
from ..errors import InvalidRequest

__all__ = ["DEFAULT_LORA_WEIGHT", "DEFAULT_NEGATIVE_PROMPT", "SUBJECT_WORDS", "LoraRef", "Style"]

#: How ``{subject}`` is worded in a prompt; neutral unless the user chose otherwise.
SUBJECT_WORDS: Mapping[str, str] = MappingProxyType(
    {"person": "a person", "man": "a man", "woman": "a woman", "boy": "a boy", "girl": "a girl"}
)

#: The original app's default negative prompt (fact-reference §5.3) as plain comma-separated terms:
#: no A1111 weights, which diffusers would read literally, and kept well inside CLIP's 77-token
#: window so nothing is silently truncated. An empty negative prompt means this one, as in the original.
DEFAULT_NEGATIVE_PROMPT = (
    "nsfw, nude, painting, sketch, cartoon, worst quality, low quality, blurry, lowres, "
    "monochrome, grayscale, watermark, signature, text, logo, deformed face, bad anatomy, "
    "bad hands, extra fingers, missing fingers, extra limbs, skin blemishes"
)

#: Weight of the default LoRA for a style that names neither a LoRA nor a weight: the multiplier
#: six of the original's seven styles without a LoRA of their own use.
DEFAULT_LORA_WEIGHT = 0.35

_SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
# A1111 syntax that diffusers would pass to CLIP as literal characters.
_LORA_TAG = re.compile(r"<lora:[^>]*>", re.IGNORECASE)
_WEIGHTED = re.compile(r"\(([^():]*):\s*[0-9.]+\s*\)")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoraRef(_Frozen):
    """A style LoRA and its weight: ModelScope ``model_id`` + ``revision`` + ``file``, a local ``path``,
    or neither, which means the server's default LoRA (``models.default_lora``)."""

    model_id: str | None = None
    revision: str | None = None
    file: str | None = None
    path: Path | None = None
    weight: float = Field(ge=0, le=2)

    @field_validator("model_id", "revision", "file")
    @classmethod
    def _stays_in_the_cache(cls, value: str | None, info: ValidationInfo) -> str | None:
        # These become path parts under the model cache; none may climb out of it.
        if value is None:
            return value
        parts = value.split("/")
        if "\\" in value or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"must be a plain relative name without '..' or empty parts, not {value!r}")
        if info.field_name == "model_id" and len(parts) != 2:
            raise ValueError(f"must be 'owner/name', not {value!r}")
        if info.field_name == "revision" and len(parts) != 1:
            raise ValueError(f"must not contain '/', not {value!r}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> LoraRef:
        if self.model_id is not None and self.path is not None:
            raise ValueError("give at most one of model_id (with revision and file) or path")
        if self.model_id is None and (self.revision or self.file):
            raise ValueError("revision and file belong to a ModelScope LoRA: add its model_id")
        if self.model_id is not None and not (self.revision and self.file):
            raise ValueError("a ModelScope LoRA needs a pinned revision and the file name inside the repo")
        if self.path is not None and (self.revision or self.file):
            raise ValueError("a local LoRA takes only path and weight")
        return self

    @property
    def is_default(self) -> bool:
        """Whether this names no file of its own: the server's default LoRA at this weight."""
        return self.model_id is None and self.path is None

    def to_model_ref(self) -> ModelRef:
        """The same file as a registry reference.

        Raises
        ------
        ValueError
            This is the default LoRA, whose file the runtime config names (``models.default_lora``).
        """
        if self.path is not None:
            return ModelRef(path=self.path)
        if self.model_id is None:
            raise ValueError("the default LoRA's file is models.default_lora in the runtime config")
        return ModelRef(model_id=self.model_id, revision=self.revision, file=self.file)


class Style(_Frozen):
    """One portrait style: prompt, base model, optional LoRA and diffusion settings."""

    id: str = Field(pattern=_SLUG, max_length=64)
    #: Shown in Discord choices, which allow at most 100 characters.
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=300)
    base_model: str
    prompt: str = Field(min_length=1)
    #: Words of the prompt the style's LoRA was trained on; each must stay in the prompt.
    trigger_words: tuple[str, ...] = ()
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    #: The style's own LoRA, or (no file named) the default LoRA at a weight. After validation it
    #: is ``None`` only for a style that opted out of the default LoRA.
    lora: LoraRef | None = None
    #: ``False``: a style without a LoRA of its own runs with none instead of the default LoRA.
    is_default_lora_enabled: bool = True
    #: FACT scale; ``None``: ``generation.adapter_scale`` of the runtime config.
    adapter_scale: float | None = Field(default=None, ge=0, le=2)
    num_inference_steps: int | None = Field(default=None, ge=1, le=150)
    guidance_scale: float | None = Field(default=None, ge=0, le=30)
    preview: Path | None = None
    tags: tuple[str, ...] = ()

    @field_validator("base_model")
    @classmethod
    def _known_base_model(cls, value: str, info: ValidationInfo) -> str:
        known = (info.context or {}).get("base_models")
        if known is not None and value not in known:
            raise ValueError(f"unknown base model {value!r}; expected one of: {', '.join(sorted(known))}")
        return value

    @field_validator("prompt")
    @classmethod
    def _prompt_has_subject(cls, value: str) -> str:
        if "{subject}" not in value:
            raise ValueError("must contain {subject} where the person goes")
        if _LORA_TAG.search(value) or _WEIGHTED.search(value):
            raise ValueError("must be plain text: no <lora:...> tags or (word:1.2) weights")
        return value

    @field_validator("negative_prompt")
    @classmethod
    def _default_when_empty(cls, value: str) -> str:
        return value if value.strip() else DEFAULT_NEGATIVE_PROMPT

    @field_validator("trigger_words")
    @classmethod
    def _triggers_in_prompt(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        bad = [word for word in value if not word.strip() or "," in word or word != word.strip()]
        if bad:
            raise ValueError(f"each trigger word is one term without commas or outer spaces, not {bad}")
        prompt = info.data.get("prompt")
        missing = [word for word in value if prompt is not None and not _contains_term(prompt, word)]
        if missing:
            raise ValueError(
                f"{missing} must stay in the prompt, because the style's LoRA was trained on them; "
                "put them back, or remove them here together with the LoRA"
            )
        return value

    @field_validator("is_default_lora_enabled")
    @classmethod
    def _opt_out_without_lora(cls, value: bool, info: ValidationInfo) -> bool:
        if not value and info.data.get("lora") is not None:
            raise ValueError("false applies only to a style without a lora entry; remove one of the two")
        return value

    @model_validator(mode="after")
    def _default_lora(self) -> Style:
        if self.is_default_lora_enabled and self.lora is None:
            # The model is frozen: set the field as validation would have, before anyone sees it.
            object.__setattr__(self, "lora", LoraRef(weight=DEFAULT_LORA_WEIGHT))
        return self

    @field_validator("tags")
    @classmethod
    def _slug_tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [tag for tag in value if not re.match(_SLUG, tag)]
        if bad:
            raise ValueError(f"tags must be lowercase words joined by '-', not {bad}")
        return value

    def compose_prompt(self, *, subject: str = "person", extra: str = "") -> str:
        """The positive prompt with the subject filled in and the user's text appended.

        Parameters
        ----------
        subject:
            One of ``SUBJECT_WORDS`` ("person", "man", "woman", "boy", "girl").
        extra:
            Free text from the user; A1111 weight syntax is reduced to the plain words.

        Raises
        ------
        InvalidRequest
            ``subject`` is not one of the known words.
        """
        try:
            wording = SUBJECT_WORDS[subject]
        except KeyError:
            raise InvalidRequest(
                f"unknown subject {subject!r}",
                user_message="The subject must be one of: person, man, woman, boy, girl.",
            ) from None
        prompt = self.prompt.replace("{subject}", wording)
        extra = " ".join(_WEIGHTED.sub(r"\1", _LORA_TAG.sub("", extra)).split())
        return f"{prompt}, {extra}" if extra else prompt


def _contains_term(text: str, term: str) -> bool:
    """Whether ``term`` appears in ``text`` as a whole term (not inside a longer word)."""
    return re.search(rf"(?<![\w-]){re.escape(term)}(?![\w-])", text) is not None
