"""/forget: every job, posted result, saved identity and cached analysis of a member, deleted.

Their notice acceptance goes too; their lines in the audit log stay, anonymised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..store import FINISHED

if TYPE_CHECKING:
    from fact_runtime import JobRuntime

    from ..store import JobStore
    from .courier import Courier

__all__ = ["Forgotten", "forget_member"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What /forget deleted: stored jobs, posted result messages and saved identities."""

    jobs: int
    results: int
    identities: int = 0


async def forget_member(user_id: int, *, store: JobStore, runtime: JobRuntime, courier: Courier) -> Forgotten:
    """Delete the member's posted results, every stored job and identity, and what the runtime holds.

    Their unfinished jobs are the caller's to cancel first (the service does, through their handles).
    """
    removed = 0
    for record in store.jobs_of(user_id, states=FINISHED):
        if await courier.delete_result(record):
            removed += 1
    deleted = store.forget(user_id)
    identities = store.identities.forget(user_id)
    # The audit keeps that the jobs ran, with an anonymous marker in place of the member.
    store.audit.anonymise(user_id)
    store.acceptances.forget(user_id)
    runtime.forget_user(str(user_id))
    log.info(
        "user %s asked to be forgotten: %d jobs, %d posted results and %d saved identities deleted",
        user_id,
        deleted,
        removed,
        identities,
    )
    return Forgotten(jobs=deleted, results=removed, identities=identities)
