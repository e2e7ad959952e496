"""Broker messages: every value crosses Redis whole (bytes raw, never base64), and a mismatch is refused."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fact_runtime import (
    BaseTokens,
    FaceAnalysis,
    GeneratedImage,
    IdentityRequest,
    IncompatibleMessage,
    InpaintRequest,
    JobFailed,
    JobResult,
    NoFaceFound,
    OutOfMemory,
    PortraitRequest,
    Progress,
    SavedFace,
    WorkerStatus,
)
from fact_runtime.executor.redis.codec import (
    SCHEMA_VERSION,
    Control,
    ControlOp,
    decode_control,
    decode_heartbeat,
    decode_outcome,
    decode_progress,
    decode_request,
    encode_control,
    encode_heartbeat,
    encode_outcome,
    encode_progress,
    encode_request,
)
from fact_runtime.executor.redis.sealing import SealBroken
from fact_runtime.executor.redis.untrusted import MalformedMessage
from tests.redis_world import SEALER

SELFIE = bytes(range(256)) * 4  # every byte value, so nothing text-like survives by luck


def test_requests_round_trip_with_their_bytes_as_raw_fields() -> None:
    portrait = PortraitRequest(user_id="7", selfie=SELFIE, style_id="film", count=3, seed=9, prompt="é", pose=b"\x00p")
    fields = encode_request("job-1", portrait, sealer=SEALER)
    assert fields[b"schema"] == str(SCHEMA_VERSION).encode() and fields[b"job"] == b"job-1"
    assert set(fields) == {b"schema", b"kind", b"job", b"body", b"blob:0", b"blob:1"}
    assert len(fields[b"blob:0"]) == len(SELFIE) + 29  # raw, sealed: version, nonce and tag added, no base64
    assert not any(SELFIE[:64] in value or b"film" in value for value in fields.values())  # ciphertext only
    assert decode_request(fields, sealer=SEALER) == portrait
    inpaint = InpaintRequest(user_id="7", selfie=SELFIE, template=b"tpl", face_index=2, subject="woman")
    assert decode_request(encode_request("job-2", inpaint, sealer=SEALER), sealer=SEALER) == inpaint
    built_in = InpaintRequest(user_id="7", selfie=SELFIE, template_id="group", count=2)
    assert decode_request(encode_request("job-3", built_in, sealer=SEALER), sealer=SEALER) == built_in


def test_results_progress_and_typed_errors_round_trip() -> None:
    result = JobResult(
        images=(GeneratedImage(b"\x89PNG-a", 5, 0.25), GeneratedImage(b"\x89PNG-b", 6)),
        timings={"denoising": 1.5, "finishing": 1},
        notes=("The face on the left was used.",),
    )
    assert decode_outcome(encode_outcome("j", result, worker="w", seconds=2.0, sealer=SEALER), sealer=SEALER) == result
    progress = Progress("denoising", 3, 10)
    assert decode_progress(encode_progress("j", progress, worker="w", sealer=SEALER), sealer=SEALER) == progress

    refused = decode_outcome(
        encode_outcome("j", NoFaceFound("seed 1"), worker="w", seconds=0.1, sealer=SEALER), sealer=SEALER
    )
    assert type(refused) is NoFaceFound and refused.user_message == NoFaceFound.user_message
    custom = decode_outcome(
        encode_outcome("j", JobFailed("x", user_message="Try later."), worker="w", seconds=0, sealer=SEALER),
        sealer=SEALER,
    )
    assert type(custom) is JobFailed and custom.user_message == "Try later."
    odd = decode_outcome(
        encode_outcome("j", OutOfMemory("cuda", batch=2), worker="w", seconds=0, sealer=SEALER), sealer=SEALER
    )
    assert type(odd) is JobFailed and "out_of_memory" in str(odd)  # a leaf with its own constructor


def test_saved_identities_cross_whole_tokens_and_all() -> None:
    """Requests added beside the first two travel with no change to the codec: it follows the dataclasses."""
    face = SavedFace(
        analysis=FaceAnalysis(
            box=(1.5, 2.0, 30.25, 40.0), landmarks68=tuple(float(i) for i in range(136)), embedding=(0.1,) * 128
        ),
        tokens=(BaseTokens("majicmix", b"\x93NUMPY" + bytes(64)), BaseTokens("film", b"\x93NUMPY" + bytes(32))),
        best_index=1,
        distances=(0.3, 0.0),
    )
    identity = IdentityRequest(user_id="7", photos=(SELFIE, b"second photo"))
    assert decode_request(encode_request("id-1", identity, sealer=SEALER), sealer=SEALER) == identity
    saved = JobResult(images=(), face=face)
    assert decode_outcome(encode_outcome("id-1", saved, worker="w", seconds=1.0, sealer=SEALER), sealer=SEALER) == saved
    reuse = PortraitRequest(user_id="7", selfie=SELFIE, style_id="film", references=(b"ref",), face=face)
    fields = encode_request("job-4", reuse, sealer=SEALER)
    opened = [
        SEALER.open(fields[f"blob:{i}".encode()], context=f"jobs\x00job-4\x00blob:{i}".encode()) for i in range(4)
    ]
    assert b"\x93NUMPY" + bytes(64) in opened  # the tokens are raw fields too, each sealed on its own
    assert decode_request(fields, sealer=SEALER) == reuse


def _sealed_body(document: bytes, job_id: str = "job-1") -> dict[bytes, bytes]:
    """A job body as a writer with this deployment's key would seal it: the body's own content is what is wrong."""
    return {b"body": SEALER.seal(document, context=f"jobs\x00{job_id}\x00body".encode())}


@pytest.mark.parametrize(
    ("change", "reason", "error"),
    [
        ({b"schema": str(SCHEMA_VERSION + 1).encode()}, f"schema {SCHEMA_VERSION + 1}", IncompatibleMessage),
        ({b"kind": b"VoiceRequest"}, "unknown message kind", MalformedMessage),
        (_sealed_body(b'{"user_id": "7", "selfie": 0, "style_id": "s", "lora": "x"}'), "no field", MalformedMessage),
        (_sealed_body(b'{"user_id": "7", "selfie": 0, "style_id": "s", "count": "2"}'), "not a int", MalformedMessage),
        (_sealed_body(b'{"user_id": "7", "style_id": "s"}'), "selfie", MalformedMessage),
        (_sealed_body(b'{"user_id": "7", "selfie": 5, "style_id": "s"}'), "index", MalformedMessage),
        (_sealed_body(b'{"user_id": "7", "selfie": -1, "style_id": "s"}'), "index", MalformedMessage),
        (_sealed_body(b"{not json"), "not JSON", MalformedMessage),
        (_sealed_body(b"[" * 10_000), "nests deeper", MalformedMessage),
        (
            _sealed_body(b'{"user_id": "7", "selfie": 0, "style_id": "s", "seed": 1e400}'),
            "out of range",
            MalformedMessage,
        ),
        (_sealed_body(b"\xff\xfe"), "not UTF-8", MalformedMessage),
        (_sealed_body(b'{"user_id": "7"}', job_id="job-2"), "does not open", SealBroken),  # replayed from another job
        ({b"body": b'{"user_id": "7", "selfie": 0, "style_id": "s"}'}, "truncated or of an unknown", SealBroken),
        ({b"blob:0": b"\x01" + bytes(40)}, "does not open", SealBroken),
    ],
    ids=[
        "newer-schema",
        "unknown-kind",
        "unknown-field",
        "wrong-type",
        "missing-field",
        "missing-blob",
        "negative-blob",
        "garbage",
        "deep-nesting",
        "huge-number",
        "bad-utf8",
        "other-job",
        "not-sealed",
        "forged-blob",
    ],
)
def test_a_message_this_side_cannot_read_is_refused_with_a_typed_error(
    change: dict[bytes, bytes], reason: str, error: type[IncompatibleMessage]
) -> None:
    portrait = PortraitRequest(user_id="7", selfie=SELFIE, style_id="s")
    fields = {**encode_request("job-1", portrait, sealer=SEALER), **change}
    with pytest.raises(IncompatibleMessage, match=reason) as refused:
        decode_request(fields, sealer=SEALER)
    assert type(refused.value) is error
    if error is IncompatibleMessage:
        assert refused.value.kind == "incompatible_message" and "another version" in refused.value.user_message
    else:
        assert refused.value.kind in ("malformed_message", "seal_broken") and "damaged" in refused.value.user_message


def test_an_unreadable_outcome_fails_its_job_with_the_same_typed_error() -> None:
    fields = encode_outcome("j", JobResult(images=()), worker="w", seconds=0, sealer=SEALER)
    outcome = decode_outcome({**fields, b"schema": b"0"}, sealer=SEALER)
    assert isinstance(outcome, IncompatibleMessage)


def test_control_messages_round_trip_and_an_unknown_op_is_ignored() -> None:
    cancel = Control(ControlOp.CANCEL, job_id="job-1")
    forget = Control(ControlOp.FORGET, user_id="7")
    assert decode_control(encode_control(cancel, sealer=SEALER), sealer=SEALER) == cancel
    sealed = encode_control(forget, sealer=SEALER)
    assert len(sealed[b"user"]) == 1 + 12 + 1 + 16  # version, nonce, the member id's one byte encrypted, tag
    assert decode_control(sealed, sealer=SEALER) == forget
    assert decode_control({b"op": b"reboot", b"job": b"job-1"}, sealer=SEALER) is None
    assert decode_control({b"op": b"forget", b"user": b"7"}, sealer=SEALER) is None  # not sealed with this key


def test_a_heartbeat_round_trips_and_a_draining_worker_is_not_ready() -> None:
    status = WorkerStatus(
        name="gpu-0",
        device="cuda:0",
        schema=SCHEMA_VERSION,
        key_fingerprint=SEALER.fingerprint,
        job_id="job-1",
        is_ready=False,
        styles=("film",),
        jobs_by_outcome={"succeeded": 3},
        step_seconds=(1.5, 3),
    )
    raw = encode_heartbeat(status, host="host", pid=42)
    assert json.loads(raw)["state"] == "draining"
    mine = SEALER.fingerprint
    assert decode_heartbeat(raw, fingerprint=mine) == status
    incompatible = dataclasses.replace(status, is_compatible=False)
    assert decode_heartbeat(raw, fingerprint=mine, schema=SCHEMA_VERSION + 1) == incompatible
    assert decode_heartbeat(raw, fingerprint="0badc0de") == incompatible  # a worker with another key
