"""The emulated client agent: runs an allocation's tasks and reports their states.

After ``client/allocrunner``: each task goes Received -> Task Setup -> Started -> Terminated,
restarts inside the same allocation per its restart policy (Restarting / Not Restarting), is
killed with Killing -> Terminated -> Killed when the server stops the allocation, and the
allocation's client status is derived from its tasks (``getClientStatus``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import shutil
from collections.abc import Callable
from typing import Any

from ...nomad import snappy
from . import clock as clocks
from .drivers import DRIVERS, StartRequest, ValidationError
from .golang import format_duration
from .logs import LOG_DIR, FileRotator, LogSignal
from .procs import ProcessSupervisor
from .records import (
    CLIENT_COMPLETE,
    CLIENT_FAILED,
    CLIENT_PENDING,
    CLIENT_RUNNING,
    TASK_DEAD,
    TASK_PENDING,
    TASK_RUNNING,
    AllocRecord,
    NodeRecord,
    TaskState,
    make_event,
)
from .restarts import KILLED, NOT_RESTARTING, RESTARTING, ExitResult, RestartTracker, StartError
from .substitutes import Substitution, Substitutions
from .taskenv import TaskContext, build_env, interpolate_config
from .templates import (
    MISSING_EVENT_DELAY,
    MissingDependencies,
    TemplateData,
    TemplateError,
    render_templates,
)

MIB = 1024 * 1024


class ClientServices:
    """What task runners need from the emulator.

    :param clock: timestamps and timers.
    :param supervisor: real processes.
    :param region: the agent's region.
    :param log_signal: makes the thread-safe notifier for one (alloc, task, type) log.
    :param sync: commits an allocation's changed client state to the state store.
    :param substitutions: what runs in place of tasks of drivers the emulator lacks.
    :param template_data: what task templates read (Nomad variables, declared Vault secrets).
    """

    def __init__(
        self,
        clock: clocks.Clock,
        supervisor: ProcessSupervisor,
        region: str,
        log_signal: Callable[[str, str, str], LogSignal],
        sync: Callable[[AllocRecord], None],
        substitutions: Substitutions | None = None,
        template_data: TemplateData | None = None,
    ) -> None:
        self.clock = clock
        self.template_data = template_data
        self.substitutions = substitutions or Substitutions()
        self.supervisor = supervisor
        self.region = region
        self.log_signal = log_signal
        self.sync = sync
        self.rng = random.Random()


class TaskRunner:
    """One task of an allocation, from setup to dead."""

    def __init__(self, alloc_runner: AllocRunner, task: dict[str, Any]) -> None:
        self.ar = alloc_runner
        self.task = task
        self.name = task["Name"]
        self.state = TaskState()
        self.kill_requested = asyncio.Event()
        self.handle = None
        self.logs: dict[str, FileRotator] = {}
        self.done = asyncio.Event()
        # Variables of `env = true` templates, which override the task's own env.
        self.template_env: dict[str, str] = {}

    # -- state changes -------------------------------------------------------------------------

    def event(self, type_: str, *, state: str | None = None, **fields: Any) -> None:
        """Append an event (and maybe change state) then report the allocation."""
        now = self.ar.services.clock.now_ns()
        event = make_event(type_, now, **fields)
        if event["FailsTask"]:
            self.state.failed = True
        if type_ == "Restarting":
            self.state.restarts += 1
            self.state.last_restart_ns = now
        self.state.append(event)
        if state is not None:
            self._set_state(state, now)
        self.ar.task_changed(self)

    def _set_state(self, state: str, now: int) -> None:
        if state == TASK_RUNNING and self.state.state != TASK_RUNNING:
            self.state.started_at_ns = now
        if state == TASK_DEAD and not self.state.finished_at_ns:
            self.state.finished_at_ns = now
        self.state.state = state

    def mark_dead(self) -> None:
        self._set_state(TASK_DEAD, self.ar.services.clock.now_ns())
        for rotator in self.logs.values():
            rotator.close()
        self.ar.task_changed(self)

    # -- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            self.mark_dead()
            self.done.set()

    async def _run(self) -> None:
        services = self.ar.services
        self.event(
            "Task Setup",
            Message="Building Task Directory",
            details={"message": "Building Task Directory"},
        )
        task_dir = self.ar.setup_task_dir(self)
        if self.task.get("Templates") and not await self._render_templates(task_dir):
            return
        tracker = RestartTracker(
            self.task.get("RestartPolicy") or {},
            self.ar.alloc.job.get("Type", "batch"),
            services.clock.now_ns,
            services.rng,
        )
        while not self.kill_requested.is_set():
            await self._attempt(task_dir, tracker)
            if self.kill_requested.is_set():
                tracker.killed = True
            decision, delay_ns = tracker.state()
            if decision == KILLED:
                self.event("Killed")
                return
            if decision == NOT_RESTARTING:
                self.event(
                    "Not Restarting",
                    state=TASK_DEAD,
                    RestartReason=tracker.reason,
                    FailsTask=True,
                    details={"restart_reason": tracker.reason, "fails_task": "true"},
                )
                return
            if decision != RESTARTING:
                return
            self.event(
                "Restarting",
                state=TASK_PENDING,
                StartDelay=delay_ns,
                RestartReason=tracker.reason,
                details={"start_delay": str(delay_ns), "restart_reason": tracker.reason},
            )
            if not await clocks.sleep(services.clock, delay_ns / 1e9, self.kill_requested):
                return

    def _driver(self) -> tuple[str, dict[str, Any], Substitution | None]:
        """The driver that runs the task, its config, and the substitution behind it, if any."""
        config = self.task.get("Config") or {}
        substitution = self.ar.services.substitutions.find(self.task)
        if substitution is None:
            return self.task["Driver"], config, None
        driver, config = substitution.driver_and_config(config)
        return driver, config, substitution

    async def _render_templates(self, task_dir: str) -> bool:
        """The template hook's prestart: render, waiting for missing data; False if the task
        must not start (a template failed, or the task was killed meanwhile)."""
        services = self.ar.services
        ctx = self.ar.task_context(self, task_dir)
        env = build_env(ctx, inherit_host=False)
        announced: list[str] = []
        since = asyncio.get_running_loop().time()
        while not self.kill_requested.is_set():
            try:
                self.template_env = render_templates(
                    self.task["Templates"],
                    task_dir,
                    env,
                    ctx.namespace,
                    services.region,
                    services.template_data,
                )
                return True
            except MissingDependencies as missing:
                if missing.deps == announced:
                    await self._until_killed_or(services.template_data.changed(300))
                    continue
                # Said once the set of missing data stays the same for the event rate.
                elapsed = asyncio.get_running_loop().time() - since
                wait = max(MISSING_EVENT_DELAY - elapsed, 0)
                if not await self._until_killed_or(services.template_data.changed(wait)):
                    if self.kill_requested.is_set():
                        break
                    announced = missing.deps
                    self.event("Template", DisplayMessage="Missing: " + ", ".join(announced))
                since = asyncio.get_running_loop().time()
            except TemplateError as exc:
                message = f"Template failed: {exc}"
                self.event(
                    "Killing",
                    FailsTask=True,
                    DisplayMessage=message,
                    details={"fails_task": "true"},
                )
                self.event("Killed")
                return False
        self.event("Killed")
        return False

    async def _until_killed_or(self, waiting) -> bool:
        """Await ``waiting`` unless the task is killed first; its result, or False."""
        change = asyncio.ensure_future(waiting)
        killed = asyncio.ensure_future(self.kill_requested.wait())
        try:
            await asyncio.wait([change, killed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            killed.cancel()
            if not change.done():
                change.cancel()
        return change.done() and not change.cancelled() and bool(change.result())

    async def _attempt(self, task_dir: str, tracker: RestartTracker) -> None:
        driver_name, config, substitution = self._driver()
        if substitution is not None:
            # What a real driver reports while it starts (pulling an image...): here, what
            # runs instead of the task, so `nomad alloc status` shows it.
            message = substitution.describe()
            self.event("Driver", DriverMessage=message, details={"driver_message": message})
        request = self._start_request(task_dir, driver_name, config, substitution)
        try:
            self.handle = await DRIVERS[driver_name].start(request)
        except ValidationError as exc:
            self.event(
                "Failed Validation",
                ValidationError=str(exc),
                DisplayMessage=str(exc),
                details={"validation_error": str(exc)},
            )
            tracker.set_start_error(StartError(str(exc)))
            return
        except StartError as exc:
            self.event(
                "Driver Failure",
                DriverError=exc.message,
                details={"driver_error": exc.message},
            )
            tracker.set_start_error(exc)
            return
        self.event("Started", state=TASK_RUNNING)
        if self.kill_requested.is_set():
            self.handle.kill(self.kill_timeout_ns(), self.task.get("KillSignal") or "")
        result = await self.handle.wait()
        self.handle = None
        self._terminated(result)
        tracker.set_exit_result(result)

    def _terminated(self, result: ExitResult) -> None:
        details = {
            "exit_code": str(result.exit_code),
            "signal": str(result.signal),
            "oom_killed": "true" if result.oom_killed else "false",
        }
        if result.error:
            details["exit_message"] = result.error
        self.event(
            "Terminated",
            ExitCode=result.exit_code,
            Signal=result.signal,
            Message=result.error or "",
            details=details,
        )

    def _start_request(
        self,
        task_dir: str,
        driver: str,
        config: dict[str, Any],
        substitution: Substitution | None,
    ) -> StartRequest:
        ctx = self.ar.task_context(self, task_dir)
        env = build_env(ctx, inherit_host=driver == "raw_exec")
        env.update(self.template_env)
        if substitution is not None:
            env.update(substitution.env)
        resources = self.task.get("Resources") or {}
        limit_mb = resources.get("MemoryMaxMB") or resources.get("MemoryMB") or 0
        return StartRequest(
            task_name=self.name,
            task_dir=task_dir,
            config=interpolate_config(config, env, ctx.node_attrs),
            env=env,
            stdout=self.logs["stdout"],
            stderr=self.logs["stderr"],
            memory_limit_bytes=int(limit_mb) * MIB if limit_mb else None,
            clock=self.ar.services.clock,
            supervisor=self.ar.services.supervisor,
        )

    def kill_timeout_ns(self) -> int:
        return int(self.task.get("KillTimeout") or 5_000_000_000)

    def kill(self, event_type: str = "Killing", **fields: Any) -> None:
        """Stop the task: emit the kill event, signal it, and let the run loop finish."""
        if self.done.is_set() or self.kill_requested.is_set():
            return
        timeout = self.kill_timeout_ns()
        if event_type == "Killing":
            fields.setdefault("KillTimeout", timeout)
            fields.setdefault("details", {"kill_timeout": format_duration(timeout)})
        self.event(event_type, **fields)
        self.kill_requested.set()
        if self.handle is not None:
            self.handle.kill(timeout, self.task.get("KillSignal") or "")

    def abandon(self) -> None:
        """The node went away: stop the task without a word (no events, no state)."""
        self.ar.silent = True
        self.kill_requested.set()
        if self.handle is not None:
            self.handle.kill(0, "SIGKILL")


class AllocRunner:
    """All tasks of one allocation on one emulated node."""

    def __init__(
        self, services: ClientServices, alloc: AllocRecord, node: NodeRecord, alloc_dir: str
    ) -> None:
        self.services = services
        self.alloc = alloc
        self.node = node
        self.alloc_dir = alloc_dir
        self.silent = False
        group = alloc.job and _group(alloc.job, alloc.task_group)
        self.group = group or {"Name": alloc.task_group, "Tasks": []}
        self.tasks = [TaskRunner(self, task) for task in self.group.get("Tasks") or []]
        self._main: asyncio.Task | None = None

    def start(self) -> None:
        self._main = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        os.makedirs(os.path.join(self.alloc_dir, LOG_DIR), exist_ok=True)
        for sub in ("data", "tmp"):
            os.makedirs(os.path.join(self.alloc_dir, "alloc", sub), exist_ok=True)
        for runner in self.tasks:
            self.alloc.task_states[runner.name] = runner.state
            runner.state.append(make_event("Received", self.services.clock.now_ns()))
        self.sync()
        await asyncio.gather(*(runner.run() for runner in self.tasks), return_exceptions=True)

    def task_changed(self, runner: TaskRunner) -> None:
        if runner.state.state == TASK_DEAD:
            self._react_to_dead(runner)
        self.sync()

    def _react_to_dead(self, runner: TaskRunner) -> None:
        others = [t for t in self.tasks if t is not runner and not t.done.is_set()]
        if runner.state.failed:
            for other in others:
                other.kill(
                    "Sibling Task Failed",
                    FailedSibling=runner.name,
                    details={"failed_sibling": runner.name},
                )
        elif runner.task.get("Leader"):
            for other in others:
                other.kill("Leader Task Dead")

    def sync(self) -> None:
        if self.silent:
            return
        status, description = client_status(self.alloc.task_states)
        if status:
            self.alloc.client_status = status
            self.alloc.client_description = description
        self.services.sync(self.alloc)

    def kill(self) -> None:
        for runner in self.tasks:
            runner.kill()

    def abandon(self) -> None:
        for runner in self.tasks:
            runner.abandon()

    async def wait(self) -> None:
        if self._main is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._main

    def destroy(self) -> None:
        """Remove the allocation directory (garbage collection)."""
        self.abandon()
        shutil.rmtree(self.alloc_dir, ignore_errors=True)

    # -- what task runners ask of their allocation ----------------------------------------

    def setup_task_dir(self, runner: TaskRunner) -> str:
        task_dir = os.path.join(self.alloc_dir, runner.name)
        for sub in ("local", "secrets", "tmp", "private"):
            os.makedirs(os.path.join(task_dir, sub), exist_ok=True)
        log_config = runner.task.get("LogConfig") or {}
        for log_type in ("stdout", "stderr"):
            runner.logs[log_type] = FileRotator(
                os.path.join(self.alloc_dir, LOG_DIR),
                runner.name,
                log_type,
                int(log_config.get("MaxFiles") or 10),
                int(log_config.get("MaxFileSizeMB") or 10) * MIB,
                self.services.log_signal(self.alloc.id, runner.name, log_type),
                hold_open=runner.task.get("Driver") != "mock_driver",
            )
        dispatch = runner.task.get("DispatchPayload") or {}
        if dispatch.get("File"):
            payload = self.alloc.job.get("Payload")
            target = os.path.join(task_dir, "local", dispatch["File"])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                # as Nomad's dispatch hook does: the job holds the payload snappy-compressed
                f.write(snappy.decompress(base64.b64decode(payload)) if payload else b"")
        return task_dir

    def task_context(self, runner: TaskRunner, task_dir: str) -> TaskContext:
        return TaskContext(
            alloc_id=self.alloc.id,
            alloc_name=self.alloc.name,
            alloc_index=_alloc_index(self.alloc.name),
            job=self.alloc.job,
            group=self.group,
            task=runner.task,
            namespace=self.alloc.namespace,
            region=self.services.region,
            alloc_dir=self.alloc_dir,
            task_dir=task_dir,
            node_attrs=self.node.target_values(),
            datacenter=self.node.datacenter,
        )


def _group(job: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((g for g in job.get("TaskGroups") or [] if g.get("Name") == name), None)


def _alloc_index(name: str) -> int:
    if name.endswith("]") and "[" in name:
        with contextlib.suppress(ValueError):
            return int(name[name.rindex("[") + 1 : -1])
    return 0


def client_status(task_states: dict[str, TaskState]) -> tuple[str, str]:
    """``getClientStatus``: failed > pending > running > complete."""
    states = task_states.values()
    if any(s.state == TASK_DEAD and s.failed for s in states):
        return CLIENT_FAILED, "Failed tasks"
    if any(s.state == TASK_PENDING for s in states):
        return CLIENT_PENDING, "No tasks have started"
    if any(s.state == TASK_RUNNING for s in states):
        return CLIENT_RUNNING, "Tasks are running"
    if states and all(s.state == TASK_DEAD for s in states):
        return CLIENT_COMPLETE, "All tasks have completed"
    return "", ""
