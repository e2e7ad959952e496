"""No photo bytes readable in Redis's files: sealed while a job runs, and its entries gone once it settles."""

from __future__ import annotations

import secrets
from pathlib import Path

from fact_runtime import InpaintRequest, PortraitRequest, RedisRuntime
from fact_runtime.executor.redis.codec import Control, ControlOp, decode_control
from tests.redis_world import SEALER, RedisServer, Start, Workers, eventually, finished, started


def files_holding(directory: Path, marker: bytes) -> list[str]:
    """Every file under Redis's data folder (append-only files, dump, log) that contains ``marker``."""
    return [str(path) for path in sorted(directory.rglob("*")) if path.is_file() and marker in path.read_bytes()]


def persist(server: RedisServer) -> None:
    """Rewrite the append-only file and write a dump, waiting for both to finish."""
    client = server.client()
    client.bgrewriteaof()
    client.save()
    while client.info("persistence")["aof_rewrite_in_progress"]:
        client.ping()


async def test_photo_bytes_never_reach_redis_files_in_clear_and_are_gone_once_settled(
    start_redis_runtime: Start, workers: Workers, redis_server: RedisServer
) -> None:
    marker = b"SELFIE-MARKER-" + secrets.token_hex(8).encode()
    photo = b"\xff\xd8\xff\xe0" + marker * 64  # an uploaded photo with a marker no other file holds
    secret = "prompt-" + secrets.token_hex(8)
    runtime: RedisRuntime = await started(start_redis_runtime, workers, ["w0"])
    requests = [
        PortraitRequest(user_id="A", selfie=photo, style_id="film", seed=1, pose=b"pose:" + marker, prompt=secret),
        InpaintRequest(user_id="A", selfie=b"other", template=b"template:" + marker, seed=2),
    ]
    handles = [runtime.submit(request) for request in requests]

    # Running: the photos are in Redis (the jobs stream), sealed.
    await eventually(workers.runs)  # the first job holds at its first step on the worker
    assert redis_server.client().xlen("fact:jobs") >= 1
    persist(redis_server)
    assert files_holding(redis_server.directory, marker) == []

    workers.open()
    for handle in handles:
        await finished(handle)
    runtime.forget_user("A")
    client = redis_server.client()
    # Settled: no entry of the job is left (its job entry went with the outcome, the outcome when handed over).
    await eventually(lambda: client.xlen("fact:jobs") == 0 and client.xlen("fact:results") == 0)
    await eventually(lambda: client.hlen("fact:released") == 0)
    assert client.xinfo_groups("fact:results")[0]["pending"] == 0
    persist(redis_server)
    assert files_holding(redis_server.directory, marker) == []
    assert files_holding(redis_server.directory, secret.encode()) == []  # the request's text is sealed too
    # The forget named its member sealed too.
    (forget,) = await eventually(lambda: [f for _, f in client.xrange("fact:control") if f[b"op"] == b"forget"])
    assert decode_control(forget, sealer=SEALER) == Control(ControlOp.FORGET, user_id="A") and forget[b"user"] != b"A"
    assert any(redis_server.directory.rglob("*.aof")) and (redis_server.directory / "dump.rdb").exists()
