"""A group job in the executor's queue: it runs like any job, and once retired its handle keeps no photo."""

from __future__ import annotations

import numpy as np

from bot.store import GroupSeat, JobOptions
from fact_runtime import GroupFace, GroupRequest, Runtime
from fact_runtime.config import QueueConfig
from tests.fakes import FakeEngine, fake_saved_face
from tests.tiny_stack import png_bytes

_PARENT = png_bytes(np.full((256, 256, 3), 128, dtype=np.uint8))


def _group() -> GroupRequest:
    faces = tuple(GroupFace(index, str(index), f"photo {index}".encode(), fake_saved_face(1)) for index in (1, 2))
    # A follow-up's: its start picture is as private as the photos.
    return GroupRequest(user_id="1", faces=faces, template=b"template", seed=3, start=_PARENT, scale=2)


async def test_a_group_job_queues_runs_and_drops_its_photos_and_tokens() -> None:
    engine = FakeEngine()
    runtime = Runtime(engine, QueueConfig())
    await runtime.start()
    try:
        request = _group()
        handle = runtime.submit(request)
        result = await handle.result()
        assert engine.requests == [request] and [image.seed for image in result.images] == [3]
        kept = handle.request
        assert isinstance(kept, GroupRequest) and kept.template is None and kept.start is None
        assert [(face.photo, face.face.tokens) for face in kept.faces] == [(b"", ()), (b"", ())]
        assert all(face.face.tokens for face in request.faces)  # the caller's request is left as it was
    finally:
        await runtime.close()


def test_group_seats_survive_the_stored_options() -> None:
    options = JobOptions(
        count=2, seed=9, has_template=True, seats=(GroupSeat(1, 401, "a1", "me"), GroupSeat(2, 402, "b2", "work"))
    )
    assert JobOptions.from_json(options.to_json()) == options
    assert JobOptions.from_json('{"count": 1}').seats == ()  # rows of other kinds (and older bots) have none
