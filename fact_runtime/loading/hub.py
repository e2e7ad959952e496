"""ModelScope, the model hub: where it is, whether it answers, what a reference would fetch, and the fetch itself.

The endpoint is the SDK's: ``MODELSCOPE_ENDPOINT``, else ``MODELSCOPE_DOMAIN`` (deprecated by the
SDK), else https://www.modelscope.cn. Reachability is checked once with a short timeout before
anything is fetched, so an offline machine is told so in seconds instead of after the SDK's
retries for every model.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_ENDPOINT", "HubFile", "HubUnreachable", "check_reachable", "hub_endpoint", "list_files", "snapshot"]

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://www.modelscope.cn"
#: Seconds to wait for the hub to answer at all; a reachable hub answers in well under one.
REACH_TIMEOUT_S = 5.0


class HubUnreachable(Exception):
    """The hub did not answer; the message says where it was looked for and why it failed."""


@dataclass(frozen=True, slots=True)
class HubFile:
    path: str
    size: int


def hub_endpoint() -> str:
    """The hub's base URL, chosen the way the ModelScope SDK chooses it."""
    endpoint = os.environ.get("MODELSCOPE_ENDPOINT", "").strip()
    if not endpoint:
        endpoint = os.environ.get("MODELSCOPE_DOMAIN", "").strip()
    if not endpoint:
        return DEFAULT_ENDPOINT
    if not endpoint.lower().startswith(("http://", "https://")):
        endpoint = f"https://{endpoint}"
    return endpoint.rstrip("/")


def check_reachable(endpoint: str | None = None, *, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Return once the hub answers any HTTP request (proxies from the environment apply).

    Raises
    ------
    HubUnreachable
        No answer within ``timeout_s``: refused, no route, DNS, TLS or timeout.
    """
    endpoint = endpoint or hub_endpoint()
    try:
        with urllib.request.urlopen(urllib.request.Request(endpoint + "/", method="HEAD"), timeout=timeout_s):
            return
    except urllib.error.HTTPError:
        return  # an error page is still an answer
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HubUnreachable(f"cannot reach ModelScope at {endpoint} ({reason})") from exc


def list_files(model_id: str, revision: str, patterns: list[str] | None) -> list[HubFile]:
    """The files of a repository revision that ``patterns`` select (all when None), with their sizes.

    Raises
    ------
    Exception
        Whatever the SDK raises for an unknown repository or revision, or a failed request.
    """
    from modelscope.hub.api import HubApi

    # One attempt and a short timeout: the hub answered a moment ago, so a failure here is an answer.
    api = HubApi(timeout=30, max_retries=0)
    entries = api.get_model_files(model_id, revision=revision, recursive=True)
    found = []
    for entry in entries:
        path = str(entry.get("Path") or entry.get("path") or "")
        if not path or (entry.get("Type") or entry.get("type")) == "tree":
            continue
        if patterns is None or any(fnmatch.fnmatch(path, pattern) for pattern in patterns):
            found.append(HubFile(path, int(entry.get("Size") or entry.get("size") or 0)))
    return found


def snapshot(
    model_id: str,
    *,
    revision: str,
    cache_dir: str,
    allow_patterns: list[str] | None,
    on_bytes: Callable[[int], object] | None = None,
) -> str:
    """Fetch (or resume) the selected files into the cache; returns the snapshot root.

    With ``on_bytes`` the SDK's own progress bars are silenced and every received chunk is
    reported instead, so a caller can draw one bar over many models.
    """
    # modelscope takes ~1 s to import, so only a real download pays for it. It resumes partial
    # files itself (HTTP Range on "<name>.incomplete").
    from modelscope.hub.callback import ProgressCallback, TqdmCallback
    from modelscope.hub.snapshot_download import snapshot_download

    if on_bytes is None:
        return str(
            snapshot_download(
                model_id,
                revision=revision,
                cache_dir=cache_dir,
                allow_patterns=allow_patterns,
                progress_callbacks=[TqdmCallback],
            )
        )

    report = on_bytes

    class _Reported(ProgressCallback):
        def update(self, size: int) -> None:
            report(size)

    # The SDK draws a bar per file and one over the files on stderr, unconditionally; the
    # caller's bar already shows that progress.
    kwargs: dict[str, Any] = {"progress_callbacks": [_Reported]}
    with contextlib.redirect_stderr(io.StringIO()):
        return str(
            snapshot_download(model_id, revision=revision, cache_dir=cache_dir, allow_patterns=allow_patterns, **kwargs)
        )
