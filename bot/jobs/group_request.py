"""The runtime request for a stored group job: each seat's member, face and saved identity, loaded afresh.

A group job's options list its seats (face position, member, identity id and name); the
identities' photos and face tokens are never copied into the job, so a member's /forget or
identity delete takes their face out of every group job that has not run yet. An upscale or a
variation of a group photo keeps its parent's seats and template and is built here too: the
members' faces painted again on the parent image, each with their own identity.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from fact_runtime import GroupFace, GroupRequest

from ..errors import IdentityGone, InputsExpired
from ..followups.request import FOLLOW_UP_KINDS, template_follow_up
from ..store import GroupSeat, JobRecord, JobStore, StoredIdentity

__all__ = ["build_group_request", "members_of"]

log = logging.getLogger(__name__)


def members_of(store: JobStore, record: JobRecord) -> tuple[StoredIdentity, ...]:
    """The seats' saved identities that still exist (none for a job that is not a group photo or a follow-up of one)."""
    if not record.options.seats:
        return ()
    found = (store.identities.load(seat.user_id, seat.identity_id) for seat in record.options.seats)
    return tuple(identity for identity in found if identity is not None)


def build_group_request(
    record: JobRecord, inputs: Mapping[str, bytes], members: Sequence[StoredIdentity]
) -> GroupRequest:
    """The group request for a stored group job (or an upscale or variation of one), from its seats' identities.

    Raises
    ------
    IdentityGone
        A seat's identity is not among ``members`` (it was deleted, or its member ran /forget); the
        sentence names the member.
    InputsExpired
        The uploaded template was purged.
    ImageExpired
        A follow-up's parent image was purged.
    """
    options = record.options
    if options.has_template and "template" not in inputs:
        raise InputsExpired(f"template of group job {record.job_id} was purged")
    is_follow_up = record.kind in FOLLOW_UP_KINDS
    follow_up = template_follow_up(record, inputs)
    by_id = {(m.record.user_id, m.record.identity_id): m for m in members}
    faces = []
    for seat in options.seats:
        identity = by_id.get((seat.user_id, seat.identity_id))
        if identity is None:
            raise IdentityGone(
                f"identity {seat.identity_id} of group job {record.job_id} is gone",
                user_message=_gone(seat, is_follow_up=is_follow_up),
            )
        best = identity.photos[identity.face.best_index]
        faces.append(GroupFace(face_index=seat.face_index, user_id=str(seat.user_id), photo=best, face=identity.face))
    return GroupRequest(
        user_id=str(record.user_id),
        faces=tuple(faces),
        template=inputs.get("template"),
        template_id=options.template_id,
        count=options.count,
        seed=options.seed,
        recipe=options.recipe,
        speed=options.speed,
        start=follow_up.start,
        scale=follow_up.scale,
        strength=follow_up.strength,
    )


def _gone(seat: GroupSeat, *, is_follow_up: bool) -> str:
    """The sentence naming the member whose identity a group photo needs and no longer has."""
    whose = f"<@{seat.user_id}>'s saved identity **{seat.identity_name}** (face {seat.face_index}) was deleted"
    if is_follow_up:
        return f"{whose} since that group photo was made, so it cannot be upscaled or varied."
    return f"{whose}, so that group photo cannot be made; run /group again."
