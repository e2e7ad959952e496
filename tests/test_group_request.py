"""The group request and its limits: refused with one sentence before anything loads, and carried by the codec."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fact_runtime.config import RuntimeConfig
from fact_runtime.errors import FaceIndexOutOfRange, InvalidRequest, NoFaceFound
from fact_runtime.executor.redis.codec import decode, encode
from fact_runtime.limits import RequestLimits, check_group_template, check_request
from fact_runtime.request import BaseTokens, GroupFace, GroupRequest
from fact_runtime.tokens import DAMAGED_FACE, encode_tokens
from tests.fakes import fake_saved_face
from tests.redis_world import SEALER


def _face(index: int, *, user: str = "ana", num_photos: int = 1) -> GroupFace:
    return GroupFace(
        face_index=index, user_id=user, photo=b"photo of " + user.encode(), face=fake_saved_face(num_photos)
    )


def _group(*faces: GroupFace, **fields: object) -> GroupRequest:
    values: dict[str, object] = {"user_id": "ana", "faces": faces, "template_id": "two-pioneers", "seed": 3}
    return GroupRequest(**{**values, **fields})  # type: ignore[arg-type]


def _refusal(request: GroupRequest, limits: RequestLimits | None = None) -> str:
    with pytest.raises(InvalidRequest) as refused:
        check_request(request, limits or RequestLimits())
    return refused.value.user_message


def test_a_well_formed_group_passes() -> None:
    check_request(_group(_face(2, user="ben"), _face(1, num_photos=3)), RequestLimits())


def test_two_up_to_max_group_faces_faces() -> None:
    assert _refusal(_group(_face(1))) == "A group photo takes 2 to 4 faces."
    five = tuple(_face(index) for index in range(1, 6))
    assert _refusal(_group(*five)) == "A group photo takes 2 to 4 faces."
    three = tuple(_face(index) for index in range(1, 4))
    assert _refusal(_group(*three), RequestLimits(max_group_faces=2)) == "A group photo takes 2 faces."
    config = RuntimeConfig(preset="tiny", generation={"max_group_faces": 6})
    check_request(_group(*five), RequestLimits.from_config(config))


def test_two_identities_for_one_face_and_face_numbers_below_one_are_refused() -> None:
    assert _refusal(_group(_face(2), _face(2, user="ben"))) == "Face 2 is given two identities; give each face one."
    assert _refusal(_group(_face(0), _face(1))) == "Face numbers start at 1."


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"count": 5}, "You can ask for 1 to 4 images at a time."),
        ({"template": b"png", "template_id": "two-pioneers"}, "Give either a template image or a built-in template"),
        ({"template_id": None}, "Give either a template image or a built-in template"),
        ({"recipe": "turbo"}, "The inpainting recipe must be original or fast."),
        ({"seed": -1}, "The seed must be between 0 and"),
    ],
)
def test_the_job_wide_options_are_checked_like_an_inpaint(fields: dict[str, object], sentence: str) -> None:
    assert _refusal(_group(_face(1), _face(2), **fields)).startswith(sentence)


def test_a_speed_tier_the_server_does_not_offer_is_refused() -> None:
    offered = RequestLimits(speeds=("original", "fast"))
    check_request(_group(_face(1), _face(2), speed="fast"), offered)
    assert (
        _refusal(_group(_face(1), _face(2), speed="turbo"), offered)
        == "This server offers these speeds: original, fast."
    )


def test_a_bad_identity_is_refused_naming_its_face() -> None:
    empty = dataclasses.replace(_face(2), photo=b"")
    assert _refusal(_group(_face(1), empty)) == "Face 2: The identity has no photo."
    tokens = np.zeros((16, 8), dtype=np.float32)
    damaged = fake_saved_face(1)
    damaged = dataclasses.replace(damaged, tokens=(BaseTokens("fake", b"not an array"),))
    assert _refusal(_group(dataclasses.replace(_face(1), face=damaged), _face(2))) == f"Face 1: {DAMAGED_FACE}"
    # Two bases whose tokens cover different numbers of photos cannot be one identity's.
    uneven = dataclasses.replace(
        fake_saved_face(2), tokens=(*fake_saved_face(2).tokens, BaseTokens("other", encode_tokens(tokens, tokens)))
    )
    assert _refusal(_group(_face(1), dataclasses.replace(_face(2), face=uneven))) == f"Face 2: {DAMAGED_FACE}"
    assert _refusal(_group(_face(1), _face(2, num_photos=5))) == "Face 2: An identity takes 1 to 4 photos."


def test_the_template_must_have_every_face_asked_for() -> None:
    check_group_template([1, 2], 2)
    check_group_template([3, 1], 3)
    with pytest.raises(FaceIndexOutOfRange) as fewer:
        check_group_template([1, 2, 3], 2)
    assert fewer.value.user_message == (
        "The template has 2 faces, fewer than the 3 asked for; pick a template with at least 3 faces."
    )
    with pytest.raises(FaceIndexOutOfRange) as past:
        check_group_template([1, 3], 2)
    assert past.value.user_message == "The template has 2 faces; pick face numbers from 1 to 2."
    with pytest.raises(FaceIndexOutOfRange) as single:
        check_group_template([1, 2], 1)
    assert single.value.user_message.startswith("The template has 1 face, fewer than the 2 asked for")
    with pytest.raises(NoFaceFound):
        check_group_template([1, 2], 0)


def test_a_group_request_crosses_the_broker_codec_unchanged() -> None:
    request = _group(
        _face(2, user="ben", num_photos=2), _face(1), template=b"\x89PNG template", template_id=None, speed="turbo"
    )
    fields = encode(request, {"job": "j1"}, sealer=SEALER, stream="jobs")
    assert decode(fields, sealer=SEALER, stream="jobs") == request
