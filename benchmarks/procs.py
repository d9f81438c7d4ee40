"""Worker processes and the line protocol the harness speaks with them.

A worker writes protocol messages to stdout as ``@@bench {json}`` lines (anything else it or
Airflow prints goes to its log file) and reads commands from stdin as JSON lines. The harness
waits on those messages, never on the clock.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

PREFIX = "@@bench "


# -- worker side ------------------------------------------------------------------------------


def emit(event: str, **data: Any) -> None:
    """Tell the harness something (worker side)."""
    sys.stdout.write(PREFIX + json.dumps({"event": event, **data}) + "\n")
    sys.stdout.flush()


def receive() -> dict[str, Any]:
    """Block until the harness sends a command (worker side)."""
    line = sys.stdin.readline()
    if not line:
        raise SystemExit("the harness closed stdin")
    return json.loads(line)


# -- harness side -----------------------------------------------------------------------------


def worker_env(airflow_home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a worker: a private, quiet Airflow home, no inherited connections."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW_CONN_", "NOMAD_", "CONSUL_"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(airflow_home / "dags"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


class WorkerProcess:
    """``python -m <module> <args>`` speaking the ``@@bench`` protocol.

    :param module: the worker module.
    :param args: its arguments.
    :param log_path: where its other output goes.
    :param env: its environment.
    :param cwd: the directory it starts in, the first place its imports are looked for
        (default: this repository's root).
    """

    def __init__(
        self,
        module: str,
        args: list[str],
        log_path: Path,
        env: dict[str, str],
        cwd: Path | None = None,
    ) -> None:
        self.module = module
        self.args = args
        self.log_path = log_path
        self.env = env
        self.cwd = cwd or Path(__file__).resolve().parent.parent
        self.events: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._proc: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=self.env,
            cwd=str(self.cwd),
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith(PREFIX):
                message = json.loads(line[len(PREFIX) :])
                self.events.append(message)
                self._queue.put(message)
            elif self._log is not None and not self._log.closed:
                self._log.write(line)
        self._queue.put(None)  # end of output

    def next_event(self, timeout: float) -> dict[str, Any]:
        """The next protocol message; raises if none comes within ``timeout`` seconds."""
        try:
            message = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(
                f"{self.module}: no message within {timeout:.0f} s (see {self.log_path})"
            ) from None
        if message is None:
            self._queue.put(None)
            raise RuntimeError(
                f"{self.module} exited with {self.wait(5)} before saying more "
                f"(see {self.log_path}): {self.tail()}"
            )
        return message

    def wait_for(self, event: str, timeout: float) -> dict[str, Any]:
        """Skip messages until one named ``event`` arrives."""
        while True:
            message = self.next_event(timeout)
            if message.get("event") == event:
                return message
            if message.get("event") == "failed":
                raise RuntimeError(f"{self.module} failed: {message.get('error')}")

    def send(self, **command: Any) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; kill it if it outlives ``timeout``."""
        assert self._proc is not None
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return self._proc.wait(timeout=15)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=15)
        if self._log is not None:
            self._log.close()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""


def write_spec(directory: Path, name: str, spec: dict[str, Any]) -> Path:
    """Write a worker's JSON spec; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w") as handle:
        json.dump(spec, handle)
    return Path(path)
