"""Fixtures for running triggers in asyncio against the emulator."""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
from pathlib import Path

import nomad
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "operators"))


@pytest.fixture
def nomad_conn(nomad_emulator, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOMAD_DEFAULT",
        json.dumps({"conn_type": "nomad", "host": nomad_emulator.nomad_addr}),
    )
    return nomad_emulator


@pytest.fixture
def nomad_client(nomad_emulator) -> nomad.Nomad:
    host, port = nomad_emulator.nomad_addr.removeprefix("http://").rsplit(":", 1)
    return nomad.Nomad(host=host, port=int(port), token=nomad_emulator.token, timeout=30)


def dispatch(
    client: nomad.Nomad, job_id: str, meta: dict | None = None, payload: bytes = b""
) -> dict:
    """Dispatch with unmodified python-nomad (which expects the payload already base64)."""
    encoded = base64.b64encode(payload).decode() if payload else None
    return client.job.dispatch_job(job_id, meta=meta or {}, payload=encoded)


class BatchLog(logging.Handler):
    """Collects the batch lines a follower writes to its logger, per stream."""

    PATTERN = re.compile(
        r"^\[(?P<task>\S+) (?P<alloc>[0-9a-f]{8}) (?P<stream>stdout|stderr)\] (?P<text>.*)$"
    )

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.messages.append(message)
        match = self.PATTERN.match(message)
        if match:
            self.lines[match["stream"]].append(match["text"])


@pytest.fixture
def batch_log():
    handler = BatchLog()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)
