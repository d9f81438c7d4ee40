"""Running the Nomad emulator as a separate process, through its CLI, and talking to it.

The benchmarks measure the provider, so the emulator runs in its own process: its CPU and
memory never count towards the process being measured, and it does not share a GIL with it.
"""

from __future__ import annotations

import os
import queue
import re
import resource
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import httpx

_ADDRESS_LINE = re.compile(r"nomad=(?P<nomad>\S+)\s+consul=(?P<consul>\S+)")
STARTUP_TIMEOUT = 60.0


def raise_open_file_limit() -> int:
    """Lift this process's open-file limit to its hard limit (children inherit it).

    A thousand triggers hold a few thousand sockets, on both sides.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def control_for(nomad_addr: str) -> Any:
    """The emulator's control client (``EmulatorControl``) for an emulator at ``nomad_addr``."""
    from airflow_provider_nomad.testing import EmulatorControl

    return EmulatorControl(nomad_addr)


class EmulatorProcess:
    """``python -m airflow_provider_nomad.testing serve`` in a child process.

    :param log_path: where the emulator's own output goes.
    :param extra_args: more CLI arguments.
    """

    def __init__(self, log_path: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.log_path = log_path
        self.extra_args = extra_args
        self.nomad_addr = ""
        self.consul_addr = ""
        self._proc: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._control: Any = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    @property
    def control(self) -> Any:
        if self._control is None:
            self._control = control_for(self.nomad_addr)
        return self._control

    def start(self) -> EmulatorProcess:
        """Launch the emulator and wait until it has printed its addresses."""
        return self.launch().ready()

    def launch(self) -> EmulatorProcess:
        """Start the process without waiting for it (see :meth:`ready`)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w")
        command = [
            sys.executable,
            "-m",
            "airflow_provider_nomad.testing",
            "serve",
            "--nomad-port",
            "0",
            "--consul-port",
            "0",
            *self.extra_args,
        ]
        self._proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._first_line: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=self._pump, args=(self._proc.stdout, self._first_line), daemon=True
        ).start()
        return self

    def ready(self) -> EmulatorProcess:
        """Wait for the address line the CLI prints once it listens."""
        try:
            line = self._first_line.get(timeout=STARTUP_TIMEOUT)
        except queue.Empty:
            self.stop()
            raise RuntimeError(
                f"the emulator printed no address within {STARTUP_TIMEOUT:.0f} s "
                f"(see {self.log_path})"
            ) from None
        match = _ADDRESS_LINE.search(line)
        if match is None:
            self.stop()
            raise RuntimeError(
                f"unexpected first line from the emulator: {line!r} (see {self.log_path})"
            )
        self.nomad_addr, self.consul_addr = match["nomad"], match["consul"]
        return self

    def _pump(self, stream: IO[str] | None, first_line: queue.Queue[str]) -> None:
        # Keep draining the emulator's stdout so it can never block on a full pipe.
        if stream is None:
            return
        sent = False
        for line in stream:
            if not sent:
                first_line.put(line)
                sent = True
            elif self._log is not None and not self._log.closed:
                self._log.write(line)
        if not sent:
            first_line.put("")

    def stop(self) -> None:
        if self._control is not None and hasattr(self._control, "close"):
            self._control.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=15)
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def nomad_client(nomad_addr: str, timeout: float = 60.0) -> httpx.Client:
    """A plain httpx client of the emulator's Nomad API, for setting jobs up."""
    return httpx.Client(base_url=nomad_addr, timeout=timeout)


def start_all(processes: list[EmulatorProcess]) -> list[EmulatorProcess]:
    """Launch several emulators at once, then wait for each to listen."""
    for process in processes:
        process.launch()
    try:
        for process in processes:
            process.ready()
    except Exception:
        for process in processes:
            process.stop()
        raise
    return processes
