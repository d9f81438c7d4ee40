"""A log checkpoint is saved only once the supervisor has taken the lines it counts.

In a triggerer, log lines wait in a socket until the supervisor reads them, while an XCom is
stored at once (``log_channel``'s docstring). These tests hold the reading end of a real
socket to show the order: no save while lines are unread, the save once they are read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from airflow_provider_nomad.nomad.checkpoint import LogCheckpoint
from airflow_provider_nomad.nomad.log_channel import (
    LogChannelDrain,
    unread_bytes,
)

TI = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
LOG = logging.getLogger(__name__)
HANG_BOUND = 60


@pytest.fixture
def channel():
    """A socket pair: the process logs into ``writer``; ``reader`` is the supervisor's end."""
    writer, reader = socket.socketpair()
    yield writer, reader
    writer.close()
    reader.close()


def read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        data += sock.recv(count - len(data))
    return data


class HeldPause:
    """A drain's pause between looks, released by the test one look at a time."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self._go = asyncio.Event()

    async def __call__(self) -> None:
        self.waiting.set()
        await self._go.wait()
        self._go.clear()
        self.waiting.clear()

    async def next_look(self) -> None:
        """Let the drain look once, and wait until it is back in its pause (or done)."""
        self._go.set()
        while self._go.is_set():
            await asyncio.sleep(0)


def test_unread_bytes_are_zero_only_once_the_peer_has_read_everything(channel):
    writer, reader = channel
    assert unread_bytes(writer.fileno()) == 0
    writer.sendall(b"x" * 10_000)
    assert unread_bytes(writer.fileno()) >= 10_000  # the kernel counts its buffers' size
    read_exactly(reader, 4096)
    assert unread_bytes(writer.fileno()) > 0
    read_exactly(reader, 10_000 - 4096)
    assert unread_bytes(writer.fileno()) == 0


async def test_the_drain_returns_only_once_everything_is_read(channel):
    writer, reader = channel
    writer.sendall(b"line\n" * 2000)
    pause = HeldPause()
    drain = LogChannelDrain(writer.fileno(), pause=pause)
    first = asyncio.ensure_future(drain.wait())
    second = asyncio.ensure_future(drain.wait())
    await asyncio.wait_for(pause.waiting.wait(), HANG_BOUND)

    read_exactly(reader, 4096)  # one pass of the supervisor: lines remain
    await pause.next_look()
    assert not first.done() and not second.done()

    read_exactly(reader, 2000 * 5 - 4096)
    await pause.next_look()
    await asyncio.wait_for(asyncio.gather(first, second), HANG_BOUND)


async def test_an_empty_socket_is_no_wait(channel):
    writer, _ = channel
    pause = HeldPause()  # never released: a wait that looked would hang
    await asyncio.wait_for(LogChannelDrain(writer.fileno(), pause=pause).wait(), HANG_BOUND)
    assert not pause.waiting.is_set()


async def test_a_checkpoint_is_stored_after_its_lines_are_read(channel, fake_xcom):
    writer, reader = channel
    pause = HeldPause()
    drain = LogChannelDrain(writer.fileno(), pause=pause)
    written = {"a1/main/stdout": 0}
    checkpoint = LogCheckpoint(TI, lambda: dict(written), LOG, lines_in_log=drain.wait)
    await checkpoint.load()

    logged = b'{"event": "settled line 001"}\n' * 300  # what the trigger logged
    writer.sendall(logged)
    written["a1/main/stdout"] = 300 * len("settled line 001\n")
    checkpoint.changed()
    await asyncio.wait_for(pause.waiting.wait(), HANG_BOUND)
    assert fake_xcom.saves == []

    read_exactly(reader, len(logged))
    await pause.next_look()
    await asyncio.wait_for(checkpoint.flush(), HANG_BOUND)
    assert fake_xcom.saves == [{"a1/main/stdout": 300 * len("settled line 001\n")}]


# Run in a process of its own: it configures logging the way Airflow's trigger runner does.
CHILD_LOGGING = """
    import json, logging, socket, sys
    from airflow.sdk.execution_time.supervisor import _configure_logs_over_json_channel
    from airflow_provider_nomad.nomad.log_channel import supervisor_log_socket, unread_bytes

    writer, reader = socket.socketpair()
    _configure_logs_over_json_channel(writer.fileno())
    logging.getLogger("airflow.triggers.nomad").info("settled line %03d", 7)
    fd = supervisor_log_socket()
    pending = unread_bytes(fd) if fd is not None else None
    reader.setblocking(False)
    sent = reader.recv(1 << 20)
    sys.__stderr__.write(json.dumps(
        {"found": fd == writer.fileno(), "pending": pending, "after": unread_bytes(fd),
         "line": sent.decode()}
    ) + "\\n")
"""


def last_line_of_child(script: str) -> str:
    """Run ``script`` in a Python of its own; the last line it wrote to stderr."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=HANG_BOUND,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_the_socket_is_found_where_airflow_child_processes_log():
    report = json.loads(last_line_of_child(CHILD_LOGGING))
    assert report["found"], report
    assert report["pending"] > 0 and report["after"] == 0, report
    assert "settled line 007" in report["line"]


CHILD_LOGGING_TO_A_FILE = """
    import logging, os, sys, tempfile
    from airflow.sdk.execution_time.supervisor import _configure_logs_over_json_channel
    from airflow_provider_nomad.nomad.log_channel import supervisor_log_socket

    fd, _ = tempfile.mkstemp()
    _configure_logs_over_json_channel(fd)
    logging.getLogger("airflow.triggers.nomad").info("settled line %03d", 7)
    sys.__stderr__.write(repr(supervisor_log_socket()) + "\\n")
"""


def test_logs_written_to_a_file_need_no_wait():
    # A line is in the log once logged: there is no socket to wait on.
    assert last_line_of_child(CHILD_LOGGING_TO_A_FILE) == "None"
