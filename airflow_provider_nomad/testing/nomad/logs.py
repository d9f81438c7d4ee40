"""Task logs: rotation on the writing side, Nomad's framed/plain streaming on the reading side.

Writing mirrors ``client/logmon/logging/rotator.go``: ``<task>.<stdout|stderr>.<n>`` under
``<alloc>/alloc/logs``, each file filled to exactly ``MaxFileSizeMB`` before the next is opened,
only the newest ``MaxFiles`` kept. Reading mirrors ``client/fs_endpoint.go`` (``logsImpl``,
``streamFile``, ``findClosest``) and ``client/lib/streamframer``: 64 KiB frames whose ``Offset``
is the file offset after the first read of the frame, a 200 ms batch window, a ``{}`` heartbeat
every second, ``file deleted``/``file truncated`` events, JSON frames concatenated with no
separator.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from . import errors

FRAME_SIZE = 64 * 1024
HEARTBEAT_SECONDS = 1.0
BATCH_WINDOW_SECONDS = 0.2
#: How long an idle plain followed log waits for a write before looking at its files anyway.
PLAIN_IDLE_LOOK_SECONDS = 5.0
DELETE_EVENT = "file deleted"
TRUNCATE_EVENT = "file truncated"
LOG_DIR = os.path.join("alloc", "logs")
_MAX_INDEX = 1 << 62
_YIELD_BYTES = 1 << 20

try:  # Linux: move pipe data to the file inside the kernel
    _SPLICE = os.splice
except AttributeError:  # pragma: no cover - non-Linux
    _SPLICE = None


def log_name(task: str, log_type: str, index: int) -> str:
    return f"{task}.{log_type}.{index}"


class LogSignal:
    """Wakes log readers of one (alloc, task, type) when its files change; thread-safe.

    :param loop: the event loop readers wait on.
    :param fire: fires the watch key on that loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[], None]) -> None:
        self._loop = loop
        self._fire = fire
        self._pending = False
        self._lock = threading.Lock()

    def notify(self) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            self._pending = False
        self._fire()


class FileRotator:
    """Appends a stream to rotating files; resumes the newest file after a task restart.

    :param log_dir: the alloc's ``alloc/logs`` directory.
    :param task: task name.
    :param log_type: ``stdout`` or ``stderr``.
    :param max_files: files kept (``LogConfig.MaxFiles``).
    :param max_file_bytes: bytes per file (``LogConfig.MaxFileSizeMB`` MiB).
    :param signal: notified after every write.
    """

    def __init__(
        self,
        log_dir: str,
        task: str,
        log_type: str,
        max_files: int,
        max_file_bytes: int,
        signal: LogSignal | None = None,
        hold_open: bool = True,
    ) -> None:
        self._dir = log_dir
        self._prefix = f"{task}.{log_type}."
        self._max_files = max(1, max_files)
        self._max_bytes = max(1, max_file_bytes)
        self._signal = signal
        # A task that writes now and then (mock_driver) need not hold its two files open
        # while it runs: ten thousand running allocations held 20,000 descriptors, the
        # process's limit here, and the last tasks failed to start.
        self._hold_open = hold_open
        existing = _indexes(log_dir, self._prefix)
        self._index = max(existing) if existing else 0
        self._fd = -1
        self._size = 0
        self._open()
        if not hold_open:
            self.close()

    @property
    def path(self) -> str:
        return os.path.join(self._dir, f"{self._prefix}{self._index}")

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self._size = os.fstat(self._fd).st_size
        if self._size >= self._max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._index += 1
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self._size = 0
        oldest_kept = self._index - self._max_files + 1
        for index in _indexes(self._dir, self._prefix):
            if index < oldest_kept:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self._dir, f"{self._prefix}{index}"))

    def _room(self) -> int:
        if self._size >= self._max_bytes:
            self._rotate()
        return self._max_bytes - self._size

    def write(self, data: bytes) -> None:
        """Append ``data``, splitting it at file boundaries."""
        if self._fd < 0:
            self._open()
        try:
            view = memoryview(data)
            while view:
                room = self._room()
                written = os.write(self._fd, view[:room])
                self._size += written
                view = view[written:]
        finally:
            if not self._hold_open:
                self.close()
        self._notify()

    def pump(self, fd: int, budget: int = 4 << 20) -> bool:
        """Move what is readable from ``fd`` (non-blocking) into the files.

        :returns: False once ``fd`` reached end of file.
        """
        moved = 0
        try:
            while moved < budget:
                room = min(self._room(), 1 << 20)
                count = self._move(fd, room)
                if count == 0:
                    return False
                moved += count
        except BlockingIOError:
            pass
        finally:
            if moved:
                self._notify()
        return True

    def _move(self, fd: int, count: int) -> int:
        if _SPLICE is not None:
            try:
                moved = _SPLICE(fd, self._fd, count, flags=os.SPLICE_F_NONBLOCK)
                self._size += moved
                return moved
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS):
                    raise
        data = os.read(fd, count)
        if data:
            os.write(self._fd, data)
            self._size += len(data)
        return len(data)

    def _notify(self) -> None:
        if self._signal is not None:
            self._signal.notify()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _indexes(log_dir: str, prefix: str) -> list[int]:
    try:
        names = os.listdir(log_dir)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            out.append(int(name[len(prefix) :]))
    return out


@dataclass
class LogEntry:
    index: int
    name: str
    size: int


def list_entries(alloc_dir: str, task: str, log_type: str) -> list[LogEntry]:
    """``logIndexes`` over a directory listing, sorted by index."""
    log_dir = os.path.join(alloc_dir, LOG_DIR)
    prefix = f"{task}.{log_type}."
    entries = []
    for index in _indexes(log_dir, prefix):
        name = f"{prefix}{index}"
        try:
            size = os.stat(os.path.join(log_dir, name)).st_size
        except FileNotFoundError:
            continue
        entries.append(LogEntry(index, name, size))
    return sorted(entries, key=lambda e: e.index)


def find_closest(entries: list[LogEntry], desired_index: int, offset: int) -> tuple[LogEntry, int]:
    """``findClosest``: the entry holding ``offset`` counted from ``desired_index``.

    A negative offset counts back from the end. Returns the entry and the offset inside it.
    """
    pos = next((i for i, e in enumerate(entries) if e.index >= desired_index), len(entries) - 1)
    while True:
        size = entries[pos].size
        if offset == 0:
            break
        if offset < 0:
            if size + offset >= 0:
                offset += size
                break
            if pos == 0:
                offset = 0
                break
            offset += size
            pos -= 1
        elif offset <= size:
            break
        elif pos == len(entries) - 1:
            offset = size
            break
        else:
            offset -= size
            pos += 1
    return entries[pos], offset


class Framer:
    """``StreamFramer``: batches file data into frames exactly as the Go framer does.

    :param plain: emit raw data (``plain=true``) instead of JSON frames.
    """

    def __init__(self, plain: bool) -> None:
        self._plain = plain
        self._offset = 0
        self._file = ""
        self._event = ""
        self._buf = bytearray()
        self._out: list[bytes] = []
        self.out_bytes = 0

    def _cleared(self) -> bool:
        return not (self._offset or self._buf or self._file or self._event)

    @property
    def idle(self) -> bool:
        """Nothing batched: a flush tick would send nothing."""
        return self._cleared()

    def _emit(self, offset: int, data: bytes, file: str, event: str) -> None:
        if self._plain:
            chunk = bytes(data)
        else:
            # Built by hand: this is the hot path of every framed log stream. Fields in Go's
            # order, empty ones omitted (``json:",omitempty"``).
            parts = []
            if offset:
                parts.append(b'"Offset":%d' % offset)
            if data:
                parts.append(b'"Data":"' + base64.b64encode(data) + b'"')
            if file:
                parts.append(b'"File":' + json.dumps(file).encode())
            if event:
                parts.append(b'"FileEvent":' + json.dumps(event).encode())
            chunk = b"{" + b",".join(parts) + b"}"
        if chunk:
            self._out.append(chunk)
            self.out_bytes += len(chunk)

    def _take(self) -> bytes:
        data = bytes(self._buf[:FRAME_SIZE])
        del self._buf[:FRAME_SIZE]
        return data

    def send(self, file: str, event: str, data: bytes, offset: int) -> None:
        if not self._cleared() and (self._file != file or self._event != event):
            self.flush()
        if self._cleared():
            self._offset, self._file, self._event = offset, file, event
        self._buf += data
        force = not self._buf and bool(self._event)
        while len(self._buf) >= FRAME_SIZE or force:
            force = False
            chunk = self._take()
            self._emit(self._offset, chunk, self._file, self._event)
            self._offset += len(chunk)

    def flush(self) -> None:
        """The batch-window tick: send whatever is pending (possibly an empty frame)."""
        if self._cleared():
            return
        self._emit(self._offset, self._take(), self._file, self._event)
        self._offset, self._file, self._event = 0, "", ""
        self._buf.clear()

    def heartbeat(self) -> None:
        if not self._plain:
            self._out.append(b"{}")
            self.out_bytes += 2

    def close(self) -> None:
        if not self._cleared() and self._buf:
            self._emit(self._offset, self._take(), self._file, self._event)

    def drain(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        self.out_bytes = 0
        return out


@dataclass
class LogRequest:
    alloc_dir: str
    task: str
    log_type: str
    offset: int
    origin: str
    follow: bool
    plain: bool


class LogStreamer:
    """One ``GET /v1/client/fs/logs`` response body.

    :param request: the parsed query.
    :param wait_change: awaits a change to the task's logs, with a timeout in seconds.
    :param closed: set when the emulator shuts down.
    """

    def __init__(
        self,
        request: LogRequest,
        wait_change: Callable[[float], Awaitable[object]],
        closed: asyncio.Event,
    ) -> None:
        self._req = request
        self._wait_change = wait_change
        self._closed = closed
        self._framer = Framer(request.plain)
        loop = asyncio.get_running_loop()
        self._time = loop.time
        now = self._time()
        self._next_flush = now + BATCH_WINDOW_SECONDS
        self._next_heartbeat = now + HEARTBEAT_SECONDS

    def _ticks(self) -> None:
        now = self._time()
        if now >= self._next_flush:
            self._framer.flush()
            self._next_flush = now + BATCH_WINDOW_SECONDS
        if now >= self._next_heartbeat:
            self._framer.heartbeat()
            self._next_heartbeat = now + HEARTBEAT_SECONDS

    def _until_tick(self) -> float:
        # An idle stream has only its heartbeat due: waking it at every batch window for
        # nothing would cost five wakeups a second per followed log, which at thousands of
        # followers is most of what the emulator does.
        if self._req.plain and self._framer.idle:
            # No heartbeat to send: writes wake the wait; the look is a fallback only.
            return PLAIN_IDLE_LOOK_SECONDS
        due = self._next_heartbeat
        if not self._framer.idle:
            due = min(due, self._next_flush)
        return max(0.0, due - self._time())

    async def body(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._logs():
                yield chunk
        finally:
            self._framer.close()
        tail = self._framer.drain()
        if tail:
            yield tail

    async def _logs(self) -> AsyncIterator[bytes]:
        req = self._req
        next_index = 0 if req.origin == "start" else _MAX_INDEX
        offset = req.offset if req.origin == "start" else -req.offset
        while not self._closed.is_set():
            try:
                entries = list_entries(req.alloc_dir, req.task, req.log_type)
            except OSError:
                return
            if not entries:
                return
            max_index = entries[-1].index
            entry, open_offset = find_closest(entries, next_index, offset)
            if not req.follow and entry.index > max_index:
                return
            last = not req.follow and entry.index == max_index
            path = os.path.join(LOG_DIR, entry.name)
            try:
                async for chunk in self._stream_file(path, open_offset, entry.index, last):
                    yield chunk
            except FileNotFoundError:
                continue
            if last:
                return
            offset = 0
            next_index = entry.index + 1

    def _next_exists(self, index: int) -> bool:
        entries = list_entries(self._req.alloc_dir, self._req.task, self._req.log_type)
        return any(e.index > index for e in entries)

    async def _stream_file(
        self, path: str, offset: int, index: int, cancel_at_eof: bool
    ) -> AsyncIterator[bytes]:
        full = os.path.join(self._req.alloc_dir, path)
        handle = open(full, "rb")  # noqa: SIM115 - reopened on truncation
        try:
            handle.seek(offset)
            event = ""
            cancel_received = cancel_at_eof
            while True:
                data = handle.read(FRAME_SIZE)
                offset += len(data)
                if data or event:
                    self._framer.send(path, event, data, offset)
                    event = ""
                self._ticks()
                if data:
                    if self._framer.out_bytes >= _YIELD_BYTES:
                        yield self._framer.drain()
                    continue
                if cancel_received:
                    return
                pending = self._framer.drain()
                if pending:
                    yield pending
                change = await self._await_change(full, offset, index)
                if change == "deleted":
                    self._framer.send(path, DELETE_EVENT, b"", offset)
                    return
                if change == "truncated":
                    handle.close()
                    handle = open(full, "rb")  # noqa: SIM115
                    offset = 0
                    event = TRUNCATE_EVENT
                elif change == "next":
                    cancel_received = True
                elif change == "closed":
                    return
        finally:
            handle.close()

    async def _await_change(self, full: str, offset: int, index: int) -> str:
        while True:
            if self._closed.is_set():
                return "closed"
            try:
                size = os.stat(full).st_size
            except FileNotFoundError:
                return "deleted"
            if size > offset:
                return "modified"
            if size < offset:
                return "truncated"
            if self._next_exists(index):
                return "next"
            await self._wait_change(self._until_tick() or BATCH_WINDOW_SECONDS)
            self._ticks()
            if self._framer.out_bytes:
                # A flush or heartbeat is due: the caller re-reads (harmless) and sends it.
                return "tick"


def validate_path(alloc_dir: str, rel_path: str) -> str:
    """Absolute path of ``rel_path`` inside the alloc dir; refuse escapes like Nomad."""
    full = os.path.normpath(os.path.join(alloc_dir, rel_path.lstrip("/")))
    root = os.path.normpath(alloc_dir)
    if full != root and not full.startswith(root + os.sep):
        raise errors.bad_request("Path escapes the alloc directory")
    return full
