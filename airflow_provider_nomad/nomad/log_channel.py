"""Waiting until the triggerer's supervisor has taken the lines this process logged.

In a triggerer, a trigger's log lines reach the task's log in two steps: the trigger runner
process writes each line to a socket as it is logged, and the triggerer's supervisor reads that
socket and writes the task's trigger log. The supervisor reads 4 KiB per pass of its loop,
between its database calls, so a burst of lines can wait in the socket for several passes; an
XCom the trigger writes meanwhile travels on another socket and is stored at once. A log
checkpoint saved right after its lines were logged could therefore be stored while those lines
still sat in the socket: a triggerer SIGKILLed at that moment lost them, and its successor,
resuming after the checkpoint, never wrote them.

So a checkpoint first waits until the socket holds nothing unread. Linux reports a socket's
unread outgoing data (``SIOCOUTQ``; for a Unix socket, the buffers the peer has not read to the
end, in bytes of memory: zero exactly when everything sent has been read). The supervisor has
then read every line logged before the wait began, and it writes each line in the same step as
it reads it, before it serves any request sent afterwards, the checkpoint's XCom write
included: one thread serves both sockets.

Where logs go to no socket (a trigger run in-process by ``dag.test()``), a line is in the log
once logged and there is nothing to wait for. Where the count cannot be read (not Linux), the
wait returns at once: a checkpoint may then run ahead of the log, as it did before.

Many triggers share one process and one socket, so one poller per event loop watches it for
all of them; a socket that the supervisor never empties (lines logged faster than it writes
them) only delays the checkpoints, which then lag behind the log instead of running ahead of it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import struct
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

__all__ = [
    "LogChannelDrain",
    "supervisor_log_socket",
    "supervisor_took_logged_lines",
    "unread_bytes",
]

#: How often a waited-on socket is looked at. A look is one system call.
POLL_SECONDS = 0.01

try:  # Linux: SIOCOUTQ, which has TIOCOUTQ's number, measures what the peer has not read yet.
    import fcntl
    import termios

    _OUTQ = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - not Linux
    fcntl = None  # type: ignore[assignment]
    _OUTQ = None


def unread_bytes(fd: int) -> int | None:
    """How much written to the socket ``fd`` its peer has not read: 0 when it has read it all.

    Counted as the kernel charges it (a Unix socket's buffers, not only their data); ``None``
    where it cannot be read.
    """
    if fcntl is None or _OUTQ is None:
        return None
    try:
        raw = fcntl.ioctl(fd, _OUTQ, b"\0\0\0\0")
    except OSError:
        return None
    return struct.unpack("i", raw)[0]


def _log_outputs() -> Iterator[Any]:
    # Airflow's child processes log through structlog and stdlib logging, both configured to
    # write to the socket their supervisor reads.
    import structlog

    yield getattr(structlog.get_config().get("logger_factory"), "io", None)
    for handler in logging.getLogger().handlers:
        yield getattr(handler, "stream", None)


def supervisor_log_socket() -> int | None:
    """The socket this process's log lines go to, when they go to one whose backlog is known."""
    for output in _log_outputs():
        try:
            fd = output.fileno()
            if stat.S_ISSOCK(os.fstat(fd).st_mode) and unread_bytes(fd) is not None:
                return fd
        except (AttributeError, OSError, ValueError):
            continue
    return None


class LogChannelDrain:
    """Waits, for any number of callers, until a socket holds nothing unread.

    :param fd: the socket.
    :param pause: what one wait between looks is (tests hold it to look at the state between).
    """

    def __init__(
        self, fd: int, pause: Callable[[], Awaitable[Any]] = lambda: asyncio.sleep(POLL_SECONDS)
    ) -> None:
        self.fd = fd
        self._pause = pause
        self._waiters: list[asyncio.Future[None]] = []
        self._poller: asyncio.Task | None = None

    def _empty(self) -> bool:
        return not unread_bytes(self.fd)

    async def wait(self) -> None:
        """Return once everything written to the socket before the call has been read."""
        if self._empty():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())
        await waiter

    async def _poll(self) -> None:
        while any(not w.done() for w in self._waiters):
            await self._pause()
            if self._empty():
                # Everyone waiting now wrote before this look: all of it has been read.
                waiters, self._waiters = self._waiters, []
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
        self._waiters.clear()


_drains: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LogChannelDrain] = (
    weakref.WeakKeyDictionary()
)


async def supervisor_took_logged_lines() -> None:
    """Return once the supervisor has read every line this process logged before the call.

    Returns at once where logs go to no socket, or to one whose backlog cannot be read.
    """
    fd = supervisor_log_socket()
    if fd is None:
        return
    loop = asyncio.get_running_loop()
    drain = _drains.get(loop)
    if drain is None or drain.fd != fd:
        drain = _drains[loop] = LogChannelDrain(fd)
    await drain.wait()
