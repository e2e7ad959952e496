"""A ModelScope hub on a loopback port: the three routes the SDK's snapshot download uses, with real bytes.

``GET /api/v1/models/{owner}/{name}/repo/files`` lists a revision's files (``Root`` narrows it),
``GET /api/v1/models/{owner}/{name}/repo?Revision=&FilePath=`` serves one file (with ``Range``),
and anything else is a 404, as the real hub answers for unknown repositories.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

_ROUTE = re.compile(r"^/api/v1/models/(?P<owner>[^/]+)/(?P<name>[^/]+)/repo(?P<files>/files)?$")


@dataclass
class FakeHub:
    """Repositories as ``{(model_id, revision): {path: bytes}}``; every request is recorded."""

    repos: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, model_id: str, revision: str, files: dict[str, bytes]) -> None:
        self.repos.setdefault((model_id, revision), {}).update(files)


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _not_found(self) -> None:
            self._json(404, {"Code": 10010205001, "Message": "repo not exists", "Success": False})

        def do_HEAD(self) -> None:
            hub.requests.append(f"HEAD {self.path}")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            hub.requests.append(f"GET {self.path}")
            url = urlparse(self.path)
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            match = _ROUTE.match(url.path)
            if match is None:
                return self._not_found()
            files = hub.repos.get((f"{match['owner']}/{match['name']}", query.get("Revision", "master")))
            if files is None:
                return self._not_found()
            if match["files"]:
                root = query.get("Root", "").strip("/")
                listed = [
                    {"Name": path.rsplit("/", 1)[-1], "Path": path, "Type": "blob", "Size": len(data),
                     "Sha256": hashlib.sha256(data).hexdigest(), "Revision": "0" * 40}
                    for path, data in files.items()
                    if not root or path.startswith(root + "/")
                ]  # fmt: skip
                return self._json(200, {"Code": 200, "Success": True, "Data": {"Files": listed}})
            data = files.get(query.get("FilePath", ""))
            if data is None:
                return self._not_found()
            start = 0
            ranged = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if ranged:
                start = int(ranged[1])
            self.send_response(206 if ranged else 200)
            if ranged:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return None

    return Handler


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    """A running fake hub; point ModelScope at it with ``MODELSCOPE_ENDPOINT=fake_hub.endpoint``."""
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="fake-hub", daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
