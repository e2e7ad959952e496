"""The runtime request for a stored job, and the job ids and seeds the bot picks."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping

from fact_runtime import MAX_SEED, InpaintRequest, JobRequest, PortraitRequest

from ..errors import InputsExpired
from ..store import JobRecord

__all__ = ["build_request", "new_job_id", "new_seed"]

log = logging.getLogger(__name__)


def new_job_id() -> str:
    return secrets.token_hex(8)


def new_seed() -> int:
    # The bot picks the seed, so "same again" reproduces a job exactly and rerolls differ.
    return secrets.randbelow(MAX_SEED + 1)


def build_request(record: JobRecord, inputs: Mapping[str, bytes]) -> JobRequest:
    """The runtime request for a stored job.

    Raises
    ------
    InputsExpired
        The selfie (or uploaded template) was purged after the retention window.
    """
    options = record.options
    if "selfie" not in inputs or (options.get("has_template") and "template" not in inputs):
        raise InputsExpired(f"inputs of job {record.job_id} were purged")
    if record.kind == "inpaint":
        return InpaintRequest(
            user_id=str(record.user_id),
            selfie=inputs["selfie"],
            template=inputs.get("template"),
            template_id=options.get("template_id"),
            face_index=int(options.get("face_index", 1)),
            count=int(options.get("count", 1)),
            seed=options.get("seed"),
            subject=options.get("subject", "person"),
            recipe=options.get("recipe"),
        )
    return PortraitRequest(
        user_id=str(record.user_id),
        selfie=inputs["selfie"],
        style_id=options["style_id"],
        count=int(options.get("count", 1)),
        seed=options.get("seed"),
        prompt=options.get("prompt", ""),
        subject=options.get("subject", "person"),
        pose=inputs.get("pose"),
    )
