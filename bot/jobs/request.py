"""The runtime request for a stored job, and the job ids and seeds the bot picks."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence

from fact_runtime import MAX_SEED, InpaintRequest, JobRequest, PortraitRequest

from ..errors import IdentityGone, InputsExpired
from ..followups.request import FOLLOW_UP_KINDS, follow_up_request, template_follow_up
from ..store import JobRecord, JobStore, StoredIdentity
from .group_request import build_group_request

__all__ = ["build_request", "identity_of", "new_job_id", "new_seed"]

log = logging.getLogger(__name__)


def new_job_id() -> str:
    return secrets.token_hex(8)


def new_seed() -> int:
    # The bot picks the seed, so "same again" reproduces a job exactly and rerolls differ.
    return secrets.randbelow(MAX_SEED + 1)


def identity_of(store: JobStore, record: JobRecord) -> StoredIdentity | None:
    """The saved identity a job was made from, if it still exists; only its owner's is ever found."""
    identity_id = record.options.identity_id
    return None if identity_id is None else store.identities.load(record.user_id, identity_id)


def build_request(
    record: JobRecord,
    inputs: Mapping[str, bytes],
    identity: StoredIdentity | None = None,
    members: Sequence[StoredIdentity] = (),
) -> JobRequest:
    """The runtime request for a stored job; a job made from a saved identity takes ``identity``'s photos and face.

    A group job takes its seats' identities from ``members`` (``group_request.members_of``).

    Raises
    ------
    InputsExpired
        The selfie (or uploaded template) was purged after the retention window.
    IdentityGone
        The job was made from a saved identity that is not given (it was deleted).
    ImageExpired
        A follow-up's parent image was purged.
    """
    if record.kind == "group" or record.options.seats:  # a group photo, or an upscale or variation of one
        return build_group_request(record, inputs, members)
    options = record.options
    identity_id = options.identity_id
    if identity_id is not None:
        if identity is None or identity.record.identity_id != identity_id:
            raise IdentityGone(f"identity {identity_id} of job {record.job_id} is gone")
        selfie, references = identity.request_photos()
        face = identity.face
    elif "selfie" in inputs:
        selfie, references, face = inputs["selfie"], (), None
    else:
        raise InputsExpired(f"inputs of job {record.job_id} were purged")
    if options.has_template and "template" not in inputs:
        raise InputsExpired(f"inputs of job {record.job_id} were purged")
    if record.kind in FOLLOW_UP_KINDS and not options.is_template:
        return follow_up_request(record, inputs, selfie=selfie, references=references, face=face)
    if record.kind == "inpaint" or options.is_template:  # /inpaint, or an upscale or variation of its result
        follow_up = template_follow_up(record, inputs)
        return InpaintRequest(
            user_id=str(record.user_id),
            selfie=selfie,
            references=references,
            face=face,
            template=inputs.get("template"),
            template_id=options.template_id,
            face_index=options.face_index,
            count=options.count,
            seed=options.seed,
            subject=options.subject,
            recipe=options.recipe,
            speed=options.speed,
            start=follow_up.start,
            scale=follow_up.scale,
            strength=follow_up.strength,
        )
    return PortraitRequest(
        user_id=str(record.user_id),
        selfie=selfie,
        references=references,
        face=face,
        # A portrait always names its style; "" (from a damaged row) is refused as an unknown style.
        style_id=options.style_id or "",
        count=options.count,
        seed=options.seed,
        prompt=options.prompt,
        subject=options.subject,
        pose=inputs.get("pose"),
        speed=options.speed,
    )
