"""What the runtime keeps about finished jobs: no photos, and nothing at all after forget_user."""

from __future__ import annotations

import pytest

from fact_runtime import InpaintRequest, PortraitRequest, Runtime
from fact_runtime.config import QueueConfig
from tests.fakes import FakeEngine


async def test_finished_jobs_keep_their_results_but_not_the_photos() -> None:
    runtime = Runtime(FakeEngine(), QueueConfig())
    await runtime.start()
    try:
        portrait = runtime.submit(
            PortraitRequest(user_id="ada", selfie=b"selfie", style_id="film", pose=b"pose", seed=1), job_id="p"
        )
        inpaint = runtime.submit(InpaintRequest(user_id="bob", selfie=b"selfie", template=b"template"), job_id="i")
        assert (await portrait.result()).images and (await inpaint.result()).images
        # A reconnecting caller still finds the handle and its result...
        assert runtime.get("p") is portrait and (await runtime.get("p").result()).images
        # ...but the photos went with the job.
        assert (portrait.request.selfie, portrait.request.pose) == (b"", None)
        assert (inpaint.request.selfie, inpaint.request.template) == (b"", None)
        assert portrait.request.style_id == "film" and portrait.request.seed == 1
    finally:
        await runtime.close()


async def test_forget_user_drops_finished_handles_and_the_engine_cache() -> None:
    engine = FakeEngine()
    runtime = Runtime(engine, QueueConfig())
    await runtime.start()
    try:
        mine = runtime.submit(PortraitRequest(user_id="ada", selfie=b"s", style_id="film"), job_id="mine")
        theirs = runtime.submit(PortraitRequest(user_id="bob", selfie=b"s", style_id="film"), job_id="theirs")
        await mine.result()
        await theirs.result()
        runtime.forget_user("ada")
        assert runtime.get("mine") is None
        assert runtime.get("theirs") is theirs
        assert engine.forgotten == ["ada"]
    finally:
        await runtime.close()


async def test_identity_jobs_and_saved_faces_leave_no_photos_or_tokens_behind() -> None:
    from fact_runtime import IdentityRequest, UserLimitReached

    engine = FakeEngine(is_gated=True)
    runtime = Runtime(engine, QueueConfig(max_per_user=1))
    await runtime.start()
    try:
        save = runtime.submit(IdentityRequest(user_id="ada", photos=(b"one", b"two")), job_id="save")
        # An identity job queues like any other: it counts against the member's limit until it ends.
        with pytest.raises(UserLimitReached):
            runtime.submit(PortraitRequest(user_id="ada", selfie=b"one", style_id="film"))
        engine.open()
        face = (await save.result()).face
        assert face is not None and len(face.distances) == 2 and save.request.photos == ()
        portrait = runtime.submit(
            PortraitRequest(user_id="ada", selfie=b"one", references=(b"two",), face=face, style_id="film"), job_id="p"
        )
        assert (await portrait.result()).images
        assert (portrait.request.selfie, portrait.request.references, portrait.request.face) == (b"", (), None)
    finally:
        await runtime.close()
