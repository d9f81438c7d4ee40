"""Task drivers: ``raw_exec``/``exec`` run real processes, ``mock_driver`` plays a script.

``mock_driver`` takes the options of Nomad's mock driver (``drivers/mock``): ``run_for``,
``exit_code``, ``exit_signal``, ``exit_err_msg``, ``start_error``, ``start_error_recoverable``,
``start_block_for``, ``kill_after``, ``stdout_string``/``stdout_repeat``/
``stdout_repeat_duration`` and the ``stderr_*`` twins.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from dataclasses import dataclass
from typing import Any, Protocol

from . import clock as clocks
from .golang import GoError, parse_duration_ns
from .logs import FileRotator
from .procs import ExitInfo, ProcessSupervisor, resident_bytes
from .restarts import ExitResult, StartError

OOM_MESSAGE = "OOM Killed"


class ValidationError(Exception):
    """The task config does not fit the driver's schema (a "Failed Validation" event)."""


class DriverHandle(Protocol):
    async def wait(self) -> ExitResult: ...

    def kill(self, timeout_ns: int, signal_name: str) -> None: ...


@dataclass
class StartRequest:
    """What a driver needs to start one task."""

    task_name: str
    task_dir: str
    config: dict[str, Any]
    env: dict[str, str]
    stdout: FileRotator
    stderr: FileRotator
    memory_limit_bytes: int | None
    clock: clocks.Clock
    supervisor: ProcessSupervisor


class Driver(Protocol):
    async def start(self, request: StartRequest) -> DriverHandle: ...


# -- mock_driver -----------------------------------------------------------------------------


def _duration(config: dict[str, Any], key: str) -> int:
    raw = config.get(key)
    if raw in (None, ""):
        return 0
    try:
        return parse_duration_ns(str(raw))
    except GoError as exc:
        raise StartError(f"{key} {raw} not a valid duration: {exc}") from exc


@dataclass
class _Output:
    text: str
    repeat: int
    every_ns: int


class MockHandle:
    """A scripted task: output, a run time, an exit; killed after ``kill_after``."""

    def __init__(self, request: StartRequest, config: dict[str, Any]) -> None:
        self._clock = request.clock
        self._config = config
        self._kill_after = _duration(config, "kill_after")
        self._run_for = _duration(config, "run_for")
        self._outputs = [
            (request.stdout, self._output("stdout")),
            (request.stderr, self._output("stderr")),
        ]
        self._cancel = asyncio.Event()
        self._done: asyncio.Future[ExitResult] = asyncio.get_running_loop().create_future()
        self._task = asyncio.ensure_future(self._run())

    def _output(self, stream: str) -> _Output:
        return _Output(
            str(self._config.get(f"{stream}_string") or ""),
            int(self._config.get(f"{stream}_repeat") or 0),
            _duration(self._config, f"{stream}_repeat_duration"),
        )

    async def _write(self, rotator: FileRotator, output: _Output) -> None:
        if not output.text:
            return
        rotator.write(output.text.encode())
        for _ in range(output.repeat):
            if not await clocks.sleep(self._clock, output.every_ns / 1e9, self._cancel):
                return
            rotator.write(output.text.encode())

    async def _run(self) -> None:
        writers = [asyncio.ensure_future(self._write(r, o)) for r, o in self._outputs]
        await clocks.sleep(self._clock, self._run_for / 1e9, self._cancel)
        await asyncio.gather(*writers)
        message = self._config.get("exit_err_msg") or None
        result = ExitResult(
            exit_code=int(self._config.get("exit_code") or 0),
            signal=int(self._config.get("exit_signal") or 0),
            error=message,
        )
        if not self._done.done():
            self._done.set_result(result)

    async def wait(self) -> ExitResult:
        return await asyncio.shield(self._done)

    def signal(self, signum: int) -> None:
        """The mock driver accepts any signal and does nothing with it."""

    def resident_bytes(self) -> int:
        return 0

    def kill(self, timeout_ns: int, signal_name: str) -> None:
        if self._done.done():
            return
        if self._kill_after:
            self._clock.call_later(self._kill_after / 1e9, self._cancel.set)
        else:
            self._cancel.set()


class MockDriver:
    async def start(self, request: StartRequest) -> DriverHandle:
        config = request.config
        block = _duration(config, "start_block_for")
        if block:
            await clocks.sleep(request.clock, block / 1e9)
        if config.get("start_error"):
            raise StartError(
                str(config["start_error"]), recoverable=bool(config.get("start_error_recoverable"))
            )
        return MockHandle(request, config)


# -- raw_exec / exec --------------------------------------------------------------------------


class ProcessTask:
    """A real process started for a task."""

    def __init__(self, request: StartRequest, argv: list[str]) -> None:
        self._clock = request.clock
        self._supervisor = request.supervisor
        loop = asyncio.get_running_loop()
        self._done: asyncio.Future[ExitResult] = loop.create_future()
        self._handle = request.supervisor.spawn(
            argv,
            cwd=request.task_dir,
            env=request.env,
            stdout=request.stdout,
            stderr=request.stderr,
            memory_limit=request.memory_limit_bytes,
            on_exit=self._exited,
        )

    def _exited(self, info: ExitInfo) -> None:
        result = ExitResult(
            exit_code=info.exit_code,
            signal=info.signal,
            oom_killed=info.oom_killed,
            error=OOM_MESSAGE if info.oom_killed else None,
        )
        if not self._done.done():
            self._done.set_result(result)

    async def wait(self) -> ExitResult:
        return await asyncio.shield(self._done)

    def signal(self, signum: int) -> None:
        """``nomad alloc signal``: deliver ``signum`` to the task's process group."""
        if not self._done.done():
            self._supervisor.signal(self._handle, signum)

    def resident_bytes(self) -> int:
        return 0 if self._done.done() else resident_bytes(self._handle.pid)

    def kill(self, timeout_ns: int, signal_name: str) -> None:
        """Send the kill signal (SIGINT by default), then SIGKILL after the kill timeout."""
        if self._done.done():
            return
        signum = _signal_number(signal_name)
        self._supervisor.signal(self._handle, signum)

        def _force() -> None:
            if not self._done.done():
                self._supervisor.signal(self._handle, signal.SIGKILL)

        self._clock.call_later(timeout_ns / 1e9, _force)


def _signal_number(name: str) -> int:
    if not name:
        return signal.SIGINT
    try:
        return int(signal.Signals[name.upper() if name.upper().startswith("SIG") else name])
    except KeyError:
        return signal.SIGINT


def lookup_bin(task_dir: str, binary: str, path: str | None) -> str:
    """The executor's ``lookupBin``: ``<task>/local``, ``<task>``, host path, ``$PATH``."""
    for candidate in (os.path.join(task_dir, "local", binary), os.path.join(task_dir, binary)):
        if os.path.exists(candidate):
            return candidate
    if os.path.isabs(binary) and os.path.exists(binary):
        return binary
    found = shutil.which(binary, path=path)
    if found:
        return found
    raise StartError(
        f"failed to launch command with executor: file {binary} not found under path {task_dir}"
    )


class ExecDriver:
    """``raw_exec`` and (without isolation) ``exec``."""

    async def start(self, request: StartRequest) -> DriverHandle:
        command = request.config.get("command")
        if not isinstance(command, str) or not command:
            raise ValidationError(
                "failed to parse config: \n\n* Missing required argument: The argument "
                '"command" is required, but no definition was found.'
            )
        args = request.config.get("args") or []
        if not isinstance(args, list):
            raise ValidationError(
                "failed to parse config: \n\n* Incorrect attribute value type: Inappropriate "
                'value for attribute "args": list of string required.'
            )
        binary = lookup_bin(request.task_dir, command, request.env.get("PATH"))
        try:
            return ProcessTask(request, [binary, *(str(a) for a in args)])
        except OSError as exc:
            raise StartError(
                f"failed to launch command with executor: fork/exec {binary}: {exc.strerror}"
            ) from exc


DRIVERS: dict[str, Driver] = {
    "mock_driver": MockDriver(),
    "raw_exec": ExecDriver(),
    "exec": ExecDriver(),
}
