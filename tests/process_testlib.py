"""Worker processes in tests: waiting on what they print, and killing them mid-task."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from nomad_testlib import HANG_BOUND


class OutputWatcher:
    """Collects a subprocess's merged output on a thread, so a test can wait for a line."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, needle: str, timeout: float = HANG_BOUND) -> str:
        """Block until a line containing ``needle`` arrives; fail if the process ends first."""
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"no {needle!r} within {timeout} s:\n{''.join(self.lines[-50:])}"
                ) from None
            if line is None:
                raise AssertionError(
                    f"process ended before printing {needle!r}:\n{''.join(self.lines[-50:])}"
                )
            self.lines.append(line)
            if needle in line:
                return line


def kill_worker_once_it_prints(script: Path, marker: str) -> None:
    """Run ``script`` (a worker running a DAG) in a process group of its own and SIGKILL the
    group once a line containing ``marker`` is printed: a worker dying mid-task."""
    worker = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
        start_new_session=True,
    )
    try:
        OutputWatcher(worker).wait_for(marker)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=HANG_BOUND)
    assert worker.returncode == -signal.SIGKILL
