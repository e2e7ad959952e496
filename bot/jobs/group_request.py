"""The runtime request for a stored group job: each seat's member, face and saved identity, loaded afresh.

A group job's options list its seats (face position, member, identity id and name); the
identities' photos and face tokens are never copied into the job, so a member's /forget or
identity delete takes their face out of every group job that has not run yet.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from fact_runtime import GroupFace, GroupRequest

from ..errors import IdentityGone, InputsExpired
from ..store import JobRecord, JobStore, StoredIdentity

__all__ = ["build_group_request", "members_of"]

log = logging.getLogger(__name__)

_GONE = "A saved identity that group photo used was deleted; run /group again."


def members_of(store: JobStore, record: JobRecord) -> tuple[StoredIdentity, ...]:
    """The seats' saved identities that still exist (none for a job that is not a group photo)."""
    if record.kind != "group":
        return ()
    found = (store.identities.load(seat.user_id, seat.identity_id) for seat in record.options.seats)
    return tuple(identity for identity in found if identity is not None)


def build_group_request(
    record: JobRecord, inputs: Mapping[str, bytes], members: Sequence[StoredIdentity]
) -> GroupRequest:
    """The group request for a stored group job, from its seats' identities.

    Raises
    ------
    IdentityGone
        A seat's identity is not among ``members`` (it was deleted, or its member ran /forget).
    InputsExpired
        The uploaded template was purged.
    """
    options = record.options
    if options.has_template and "template" not in inputs:
        raise InputsExpired(f"template of group job {record.job_id} was purged")
    by_id = {(m.record.user_id, m.record.identity_id): m for m in members}
    faces = []
    for seat in options.seats:
        identity = by_id.get((seat.user_id, seat.identity_id))
        if identity is None:
            raise IdentityGone(f"identity {seat.identity_id} of group job {record.job_id} is gone", user_message=_GONE)
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
    )
