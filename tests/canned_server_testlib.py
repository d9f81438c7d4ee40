"""A loopback HTTP server with canned answers, counting what it is asked.

For the answers the emulator never gives: a proxy that strips the index headers, a foreign
server's JSON, a body shaped like another endpoint's. Each path answers what :meth:`~CannedServer.
answer` set for it (a JSON body, a status, headers); any other path answers 404. Every request
is recorded, so a test can count them or wait for the first one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from nomad_testlib import HANG_BOUND


@dataclass(frozen=True)
class Canned:
    """One canned answer: ``body`` is sent as JSON, or as it is when it is ``bytes``."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    at: float  # time.monotonic()
    method: str
    path: str
    query: str


class CannedServer:
    """The server's answers and what it was asked (thread-safe)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._answers: dict[tuple[str, str], Canned] = {}
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._asked = threading.Condition(self._lock)

    def answer(self, path: str, body: Any, *, method: str = "GET", **kwargs: Any) -> None:
        """Answer ``method path`` (whatever the query string) with ``body`` as JSON."""
        with self._lock:
            self._answers[(method, path)] = Canned(body, **kwargs)

    def requests(self, path: str | None = None) -> list[Seen]:
        """The requests received so far, for one path or all."""
        with self._lock:
            return [s for s in self._seen if path is None or s.path == path]

    def wait_for_request(self, path: str, timeout: float = HANG_BOUND) -> bool:
        """Block until ``path`` was asked at least once."""
        with self._asked:
            return self._asked.wait_for(
                lambda: any(s.path == path for s in self._seen), timeout=timeout
            )

    def _take(self, method: str, target: str) -> Canned | None:
        parts = urlsplit(target)
        with self._asked:
            self._seen.append(Seen(time.monotonic(), method, parts.path, parts.query))
            self._asked.notify_all()
            return self._answers.get((method, parts.path))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        canned = self.server.canned._take(self.command, self.path)
        if canned is None:
            canned = Canned(f"no canned answer for {self.command} {self.path}", status=404)
        raw = isinstance(canned.body, bytes)
        body = canned.body if raw else json.dumps(canned.body).encode()
        self.send_response(canned.status)
        self.send_header("Content-Type", "text/plain" if raw else "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in canned.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    canned: CannedServer


@contextmanager
def serve() -> Iterator[CannedServer]:
    """A :class:`CannedServer` on a free loopback port, for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.canned = CannedServer(f"http://127.0.0.1:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.canned
    finally:
        server.shutdown()
        server.server_close()
        thread.join(HANG_BOUND)


def use_connection(
    monkeypatch: pytest.MonkeyPatch, conn_id: str, conn_type: str, address: str, **fields: Any
) -> None:
    """Point the Airflow connection ``conn_id`` at ``address`` (``AIRFLOW_CONN_<ID>``)."""
    parts = urlsplit(address)
    payload = {
        "conn_type": conn_type,
        "host": f"{parts.scheme}://{parts.hostname}",
        "port": parts.port,
    } | fields
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(payload))
