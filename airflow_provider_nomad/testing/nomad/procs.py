"""Real task processes: spawn, pump their output into rotating logs, notice exits and OOM.

One supervisor thread serves every process through ``epoll``: it moves pipe data into the log
files with ``splice`` (no copy through Python, hundreds of MB/s), learns of exits through
``pidfd``, and samples resident memory of processes that have a limit. Results go back to the
event loop with ``call_soon_threadsafe``; no state of the emulator is touched on this thread.
Each task runs in its own process group, so signals and kills reach its whole tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import resource
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .logs import FileRotator

_PAGE = resource.getpagesize()
_EOF_GRACE_SECONDS = 1.0
_MEMORY_SAMPLE_SECONDS = 0.05
_F_SETPIPE_SZ = 1031


@dataclass
class ExitInfo:
    """How a task process ended."""

    exit_code: int
    signal: int
    oom_killed: bool


@dataclass(eq=False)
class ProcessHandle:
    """A running task process (the leader of its own process group)."""

    popen: subprocess.Popen
    memory_limit: int | None
    on_exit: Callable[[ExitInfo], None]
    pipes: dict[int, FileRotator] = field(default_factory=dict)
    pidfd: int = -1
    exited_at: float | None = None
    oom_killed: bool = False
    delivered: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid


class ProcessSupervisor:
    """Owns every task process of one emulator.

    :param loop: where exit notifications are delivered.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._inbox: queue.SimpleQueue[ProcessHandle] = queue.SimpleQueue()
        self._handles: set[ProcessHandle] = set()  # supervisor thread's own view
        self._live_lock = threading.Lock()
        self._live: set[ProcessHandle] = set()  # spawned and not yet reported as exited
        self._running = True
        self._last_sample = 0.0
        self._thread = threading.Thread(target=self._run, name="nomad-emulator-procs", daemon=True)
        self._thread.start()

    # -- loop-thread API ------------------------------------------------------------------

    def spawn(
        self,
        argv: list[str],
        *,
        cwd: str,
        env: dict[str, str],
        stdout: FileRotator,
        stderr: FileRotator,
        memory_limit: int | None,
        on_exit: Callable[[ExitInfo], None],
    ) -> ProcessHandle:
        """Start ``argv`` leading a new process group; ``OSError`` if it cannot run."""
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        for fd in (out_r, err_r):
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, _F_SETPIPE_SZ, 1 << 20)
        try:
            popen = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                start_new_session=True,
                close_fds=True,
            )
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        for fd in (out_r, err_r):
            os.set_blocking(fd, False)
        handle = ProcessHandle(popen, memory_limit, on_exit, {out_r: stdout, err_r: stderr})
        with self._live_lock:
            self._live.add(handle)
        self._inbox.put(handle)
        self._wake()
        return handle

    def signal(self, handle: ProcessHandle, signum: int) -> None:
        """Send ``signum`` to the task's whole process group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(handle.pid, signum)

    def shutdown(self) -> None:
        """Kill every process group still alive and stop the thread."""
        with self._live_lock:
            live = list(self._live)
        for handle in live:
            self.signal(handle, signal.SIGKILL)
        self._running = False
        self._wake()
        self._thread.join(timeout=5)
        for handle in list(self._handles) + self._drain_inbox():
            self._release(handle)
            with contextlib.suppress(Exception):
                handle.popen.wait(timeout=2)
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def live_pids(self) -> list[int]:
        """PIDs of task processes whose exit has not been reported yet."""
        with self._live_lock:
            return sorted(h.pid for h in self._live)

    # -- supervisor thread ----------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    def _drain_inbox(self) -> list[ProcessHandle]:
        out = []
        while True:
            try:
                out.append(self._inbox.get_nowait())
            except queue.Empty:
                return out

    def _run(self) -> None:
        while self._running:
            events = self._selector.select(self._timeout())
            for key, _ in events:
                kind, handle = key.data
                if kind == "wake":
                    self._accept()
                elif kind == "pipe":
                    self._pump(handle, key.fd)
                else:
                    self._reap(handle)
            self._police_memory()
            self._check_grace()

    def _timeout(self) -> float | None:
        if any(h.memory_limit and h.exited_at is None for h in self._handles):
            return _MEMORY_SAMPLE_SECONDS
        if any(h.exited_at is not None for h in self._handles):
            return 0.1
        return None

    def _accept(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 4096)
        for handle in self._drain_inbox():
            self._handles.add(handle)
            for fd in handle.pipes:
                self._selector.register(fd, selectors.EVENT_READ, ("pipe", handle))
            try:
                handle.pidfd = os.pidfd_open(handle.pid)
                self._selector.register(handle.pidfd, selectors.EVENT_READ, ("exit", handle))
            except (AttributeError, OSError):
                threading.Thread(target=self._wait_thread, args=(handle,), daemon=True).start()

    def _wait_thread(self, handle: ProcessHandle) -> None:  # pragma: no cover - no pidfd
        handle.popen.wait()
        handle.exited_at = time.monotonic()
        self._wake()

    def _pump(self, handle: ProcessHandle, fd: int) -> None:
        rotator = handle.pipes.get(fd)
        if rotator is None:
            return
        if not rotator.pump(fd):
            self._close_pipe(handle, fd)
            self._maybe_deliver(handle)

    def _close_pipe(self, handle: ProcessHandle, fd: int) -> None:
        handle.pipes.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)
        os.close(fd)

    def _reap(self, handle: ProcessHandle) -> None:
        if handle.pidfd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(handle.pidfd)
            os.close(handle.pidfd)
            handle.pidfd = -1
        handle.popen.wait()
        handle.exited_at = time.monotonic()
        self._maybe_deliver(handle)

    def _check_grace(self) -> None:
        now = time.monotonic()
        for handle in list(self._handles):
            if handle.exited_at is None:
                continue
            if handle.pipes and now - handle.exited_at >= _EOF_GRACE_SECONDS:
                # A grandchild still holds the pipes open: take what is there and stop.
                for fd, rotator in list(handle.pipes.items()):
                    rotator.pump(fd)
                    self._close_pipe(handle, fd)
            self._maybe_deliver(handle)

    def _maybe_deliver(self, handle: ProcessHandle) -> None:
        if handle.delivered or handle.exited_at is None or handle.pipes:
            return
        handle.delivered = True
        self._release(handle)
        with self._live_lock:
            self._live.discard(handle)
        code = handle.popen.returncode
        if code is not None and code < 0:
            info = ExitInfo(128 - code, -code, handle.oom_killed)
        else:
            info = ExitInfo(code or 0, 0, handle.oom_killed)
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(handle.on_exit, info)

    def _release(self, handle: ProcessHandle) -> None:
        self._handles.discard(handle)
        for fd in list(handle.pipes):
            self._close_pipe(handle, fd)
        if handle.pidfd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(handle.pidfd)
            os.close(handle.pidfd)
            handle.pidfd = -1

    def _police_memory(self) -> None:
        now = time.monotonic()
        if now - self._last_sample < _MEMORY_SAMPLE_SECONDS:
            return
        self._last_sample = now
        for handle in list(self._handles):
            if not handle.memory_limit or handle.exited_at is not None or handle.oom_killed:
                continue
            # The resident sizes are cheap to read but count a page shared by a forked child
            # and its parent twice; a cgroup charges it once. Only a tree whose resident sum
            # is over the limit pays for the proportional sizes, which count it once.
            if (
                resident_bytes(handle.pid) > handle.memory_limit
                and charged_bytes(handle.pid) > handle.memory_limit
            ):
                # What the cgroup OOM killer does: SIGKILL, and the driver reports OOM.
                handle.oom_killed = True
                self.signal(handle, signal.SIGKILL)


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants, from ``/proc``."""
    tree: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        if current in tree:
            continue
        try:
            with open(f"/proc/{current}/task/{current}/children", "rb") as f:
                stack.extend(int(p) for p in f.read().split())
        except (OSError, ValueError):
            continue
        tree.append(current)
    return tree


def resident_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants (what ``ps`` shows, summed)."""
    return sum(_resident_bytes_of(current) for current in _process_tree(pid))


def charged_bytes(pid: int) -> int:
    """Memory of ``pid`` and its descendants as a cgroup would charge it: each page once.

    The sum of the processes' proportional set sizes (``Pss`` in ``smaps_rollup``): a page
    that a forked child still shares with its parent is split between them, not counted in
    full for each, as their resident sizes would. A process whose ``smaps_rollup`` cannot be
    read counts its resident size.
    """
    total = 0
    for current in _process_tree(pid):
        try:
            with open(f"/proc/{current}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError, IndexError):
            total += _resident_bytes_of(current)
    return total


def _resident_bytes_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0
