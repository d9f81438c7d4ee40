"""``NomadExecutor``: every Airflow task try runs as a dispatched child of a Nomad runner job.

Set ``[core] executor = airflow_provider_nomad.executors.nomad.NomadExecutor`` (alone, or in a
comma-separated list of executors), register the runner job (docs/executor.md) and configure
``[nomad_executor]`` (:mod:`airflow_provider_nomad.executors.config`).

How a try runs:

- ``_process_workloads`` checks the workload (task ``executor_config``, payload size) and hands
  the dispatch to a small thread pool: a slow Nomad never blocks the scheduler's loop. The
  child is named ``<runner>/dispatch-af-<key>-...`` and carries the per-try idempotency token
  of :mod:`~airflow_provider_nomad.nomad.identity`, so a retried request or a restarted
  scheduler gets the child the first dispatch created instead of running the try twice.
- :class:`~airflow_provider_nomad.executors.watch.ChildWatch` (one blocking query per runner
  job for all running children) reports each child's end; ``sync()`` only drains those reports
  and turns them into task events, with the reason (placement failure, lost node, OOM, exit
  code) in the event log.
- After a scheduler restart, ``try_adopt_task_instances`` finds each running try's child by its
  ``external_executor_id`` (the child's job ID) or by the identity prefix and the try number in
  its meta, and watches it again instead of running the try again.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.executors.base_executor import BaseExecutor
from airflow.executors.workloads import ExecuteTask

from airflow_provider_nomad.exceptions import (
    NomadInvalidInputError,
    NomadNotFoundError,
    NomadProviderError,
)
from airflow_provider_nomad.executors.config import ExecutorSettings
from airflow_provider_nomad.executors.dispatch_spec import (
    DispatchSpec,
    TaskKey,
    build_dispatch,
    run_token,
    runner_for,
    try_of,
)
from airflow_provider_nomad.executors.watch import ChildWatch, WatchedChild
from airflow_provider_nomad.nomad.dispatch_input import check_against_parent
from airflow_provider_nomad.nomad.outcome import JobOutcome, latest_allocations
from airflow_provider_nomad.nomad.states import JobStatus

if TYPE_CHECKING:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancekey import TaskInstanceKey

    from airflow_provider_nomad.hooks.nomad import NomadHook

__all__ = ["NomadExecutor"]


@dataclass(frozen=True)
class _Dispatched:
    key: TaskInstanceKey
    runner: str
    child: WatchedChild
    reused: bool


@dataclass(frozen=True)
class _DispatchFailed:
    key: TaskInstanceKey
    reason: str
    runner: str


@dataclass(frozen=True)
class _Ended:
    job_id: str
    outcome: JobOutcome


def _task_key(key: TaskInstanceKey) -> TaskKey:
    return TaskKey(key.dag_id, key.task_id, key.run_id, key.try_number, key.map_index)


class NomadExecutor(BaseExecutor):
    """Runs each task try as a dispatched child of a parameterized Nomad job (the runner).

    Configured by the ``[nomad_executor]`` section; a task may pick another runner job and add
    dispatch meta with ``executor_config={"nomad": {"runner_job_id": ..., "meta": {...}}}``.
    """

    supports_ad_hoc_ti_run = True
    is_local = False
    is_production = True
    serve_logs = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = ExecutorSettings.read(self.conf)
        self._events: queue.SimpleQueue[_Dispatched | _DispatchFailed | _Ended] = (
            queue.SimpleQueue()
        )
        self._pool: ThreadPoolExecutor | None = None
        self._watches: dict[str, ChildWatch] = {}
        #: task try -> (runner, child job ID), for the tries this executor follows.
        self._children: dict[TaskInstanceKey, tuple[str, str]] = {}
        self._keys_by_job: dict[str, TaskInstanceKey] = {}
        #: tries whose dispatch is in flight; a revoked one is stopped once dispatched.
        self._dispatching: set[TaskInstanceKey] = set()
        self._revoked: set[TaskInstanceKey] = set()
        self._parents: dict[str, dict[str, Any]] = {}
        self._hook_local: NomadHook | None = None

    # -- hooks: one per thread (python-nomad sessions are not shared across threads) --------

    def _new_hook(self) -> NomadHook:
        from airflow_provider_nomad.hooks.nomad import NomadHook

        return NomadHook(
            self.settings.conn_id, namespace=self.settings.namespace, region=self.settings.region
        )

    @property
    def _hook(self) -> NomadHook:
        """The hook of the scheduler's (or api-server's) own thread."""
        if self._hook_local is None:
            self._hook_local = self._new_hook()
        return self._hook_local

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(
            self.settings.dispatch_concurrency, thread_name_prefix="nomad-executor-dispatch"
        )
        self.log.info(
            "NomadExecutor dispatching to runner job %r (connection %r, namespace %r)",
            self.settings.runner_job_id,
            self.settings.conn_id,
            self.settings.namespace or "(connection's)",
        )

    def _watch(self, runner: str) -> ChildWatch:
        watch = self._watches.get(runner)
        if watch is None:
            watch = ChildWatch(
                self._new_hook(),
                runner,
                self.settings.watch_wait_seconds,
                report=lambda job_id, outcome: self._events.put(_Ended(job_id, outcome)),
                on_error=lambda exc: self.log.warning(
                    "Watching children of Nomad job %r failed, retrying: %s", runner, exc
                ),
            )
            watch.start()
            self._watches[runner] = watch
        return watch

    def end(self) -> None:
        """Stop watching and dispatching; children keep running for the next scheduler.

        A child runs on its own in Nomad (like a pod for the KubernetesExecutor): stopping the
        scheduler gracefully must not kill the work it started. The next scheduler adopts it.
        """
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.sync()
        self._stop_watches()

    def terminate(self) -> None:
        """On SIGTERM: as :meth:`end`, without waiting for dispatches in flight."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._stop_watches()

    def _stop_watches(self) -> None:
        for watch in self._watches.values():
            watch.stop()
        self._watches.clear()

    # -- dispatch ---------------------------------------------------------------------------

    def _process_workloads(self, workload_items: Sequence[Any]) -> None:
        for workload in workload_items:
            if not isinstance(workload, ExecuteTask):
                raise ValueError(f"NomadExecutor cannot run {type(workload).__name__} workloads")
            key = workload.ti.key
            self.queued_tasks.pop(key, None)
            self.running.add(key)
            try:
                spec = build_dispatch(
                    _task_key(key),
                    workload.model_dump_json(),
                    workload.ti.executor_config,
                    self.settings.runner_job_id,
                )
            except NomadInvalidInputError as exc:
                self._fail(key, str(exc))
                continue
            self.log.info(
                "Dispatching %s to Nomad job %r (payload %d bytes)",
                key,
                spec.runner_job_id,
                len(spec.payload),
            )
            self._dispatching.add(key)
            if self._pool is None:
                self.start()
            assert self._pool is not None
            # The child of this try's earlier run, still followed when the try runs again
            # (a resumed deferral, a rescheduled poke): never the child of this new run.
            earlier = self._children.get(key, (None, None))[1]
            self._watch(spec.runner_job_id).expect()
            self._pool.submit(self._dispatch_in_thread, key, spec, earlier)

    def _parent(self, hook: NomadHook, runner: str) -> dict[str, Any]:
        parent = self._parents.get(runner)
        if parent is None:
            parent = self._parents[runner] = hook.get_job(runner)
        return parent

    def _dispatch_in_thread(
        self, key: TaskInstanceKey, spec: DispatchSpec, earlier: str | None = None
    ) -> None:
        hook = self._new_hook()
        try:
            try:
                parent = self._parent(hook, spec.runner_job_id)
            except NomadNotFoundError:
                raise NomadInvalidInputError(
                    f"The Nomad runner job {spec.runner_job_id!r} does not exist in namespace "
                    f"{hook.settings.namespace!r}: register it (docs/executor.md) or set "
                    "[nomad_executor] runner_job_id"
                ) from None
            check_against_parent(parent, spec.meta, spec.payload)
            answer = hook.dispatch_job(
                spec.runner_job_id,
                meta=spec.meta,
                payload=spec.payload,
                id_prefix_template=spec.id_prefix_template,
                idempotency_token=self._token_of_this_run(hook, key, spec, earlier),
            )
            job_id = answer["DispatchedJobID"]
            reused = not answer.get("EvalID")
            create_index = int(answer.get("JobCreateIndex") or 0)
            if reused:
                # The token matched a child an earlier request (or scheduler) created.
                create_index = int(hook.get_job(job_id).get("CreateIndex") or 0)
            child = WatchedChild(job_id, answer.get("EvalID") or None, create_index)
            self._events.put(_Dispatched(key, spec.runner_job_id, child, reused))
        except NomadProviderError as exc:
            self._events.put(
                _DispatchFailed(key, f"Nomad dispatch failed: {exc}", spec.runner_job_id)
            )
        except Exception as exc:  # a bug must fail the task, not leave it queued forever
            self._events.put(
                _DispatchFailed(
                    key,
                    f"Nomad dispatch failed: {type(exc).__name__}: {exc}",
                    spec.runner_job_id,
                )
            )
        finally:
            hook.close()

    @staticmethod
    def _token_of_this_run(
        hook: NomadHook, key: TaskInstanceKey, spec: DispatchSpec, earlier: str | None
    ) -> str:
        """The idempotency token of the run of ``key`` being dispatched.

        The children this try already has decide: none, the try's own token; the newest still
        running and not the one this executor followed (a scheduler that died after
        dispatching), its token again, so the try is not run twice; the newest ended, stopped
        or followed by this executor (the try runs again: resumed deferral, rescheduled
        poke), the token of a new run.
        """
        prefix = _task_key(key).identity.children_prefix(spec.runner_job_id)
        stubs = hook.list_jobs_blocking(prefix, index=0, wait=1, meta=True)[0]
        runs = sorted(
            (s for s in stubs if try_of(s) == key.try_number),
            key=lambda s: s.get("CreateIndex", 0),
        )
        if not runs:
            return run_token(spec.idempotency_token, 1)
        newest = runs[-1]
        ongoing = (
            newest.get("Status") != JobStatus.DEAD
            and not newest.get("Stop")
            and newest.get("ID") != earlier
        )
        return run_token(spec.idempotency_token, len(runs) if ongoing else len(runs) + 1)

    # -- sync -------------------------------------------------------------------------------

    def sync(self) -> None:
        """Apply what the dispatch threads and the watches reported; never blocks."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, _Dispatched):
                self._on_dispatched(event)
            elif isinstance(event, _DispatchFailed):
                self._dispatching.discard(event.key)
                self._watch(event.runner).unexpect()
                earlier = self._children.pop(event.key, None)
                if earlier is not None:
                    self._forget(*earlier)
                if event.key in self._revoked:
                    self._revoked.discard(event.key)
                    continue
                self._fail(event.key, event.reason)
            else:
                self._on_ended(event)

    def _on_dispatched(self, event: _Dispatched) -> None:
        key = event.key
        self._dispatching.discard(key)
        if key in self._revoked:
            self._revoked.discard(key)
            self._watch(event.runner).unexpect()
            self._stop_child(event.child.job_id)
            return
        self._follow(key, event.runner, event.child, expected=True)
        self.log.info(
            "%s runs as Nomad job %s%s",
            key,
            event.child.job_id,
            " (dispatched earlier: same try, same child)" if event.reused else "",
        )
        # The scheduler stores the child's ID as the try's external_executor_id.
        self.running_state(key, event.child.job_id)

    def _follow(
        self, key: TaskInstanceKey, runner: str, child: WatchedChild, expected: bool = False
    ) -> None:
        earlier = self._children.get(key)
        if earlier is not None and earlier[1] != child.job_id:
            # The try runs again in a new child: the earlier run's end is no longer its end.
            self._forget(*earlier)
        self._children[key] = (runner, child.job_id)
        self._keys_by_job[child.job_id] = key
        self.running.add(key)
        self._watch(runner).track(child, expected)

    def _forget(self, runner: str, job_id: str) -> None:
        self._keys_by_job.pop(job_id, None)
        watch = self._watches.get(runner)
        if watch is not None:
            watch.untrack(job_id)

    def _on_ended(self, event: _Ended) -> None:
        key = self._keys_by_job.pop(event.job_id, None)
        if key is None:
            return
        if key in self._dispatching:
            # The try runs again (resumed deferral, rescheduled poke) and its new child is
            # being dispatched: this earlier run's end must not end the try.
            return
        self._children.pop(key, None)
        outcome = event.outcome
        if outcome.succeeded:
            self.success(key, event.job_id)
            return
        reason = f"Nomad job {event.job_id} {outcome.result.value}: {outcome.reason}"
        if outcome.result.value == "placement_failed":
            # Nomad would place it later, when capacity frees: it must not run after the try
            # has been failed (a retry runs as a new child).
            self._stop_child(event.job_id)
        self._fail(key, reason)

    def _fail(self, key: TaskInstanceKey, reason: str) -> None:
        self.log.error("%s failed: %s", key, reason)
        self.log_task_event(event="nomad executor", extra=reason, ti_key=key)
        self.fail(key, reason)

    # -- stopping ---------------------------------------------------------------------------

    def _stop_child(self, job_id: str) -> None:
        try:
            self._hook.stop_job(job_id)
        except NomadNotFoundError:
            pass
        except NomadProviderError as exc:
            self.log.warning("Could not stop Nomad job %s: %s", job_id, exc)

    def revoke_task(self, *, ti: TaskInstance) -> None:
        """Stop this try's child (only it) and forget the try; no event, never raises."""
        key = ti.key
        self.queued_tasks.pop(key, None)
        self.running.discard(key)
        if key in self._dispatching:
            self._revoked.add(key)
        child = self._children.pop(key, None)
        if child is None:
            return
        runner, job_id = child
        self._keys_by_job.pop(job_id, None)
        watch = self._watches.get(runner)
        if watch is not None:
            watch.untrack(job_id)
        self._stop_child(job_id)

    def cleanup_stuck_queued_tasks(self, tis: list[TaskInstance]) -> list[str]:
        """Airflow < 3.2 calls this for tries queued too long: stop their children."""
        for ti in tis:
            self.revoke_task(ti=ti)
        return [repr(ti) for ti in tis]

    # -- adoption ---------------------------------------------------------------------------

    def _find_child(self, ti: TaskInstance, try_number: int) -> tuple[str, dict[str, Any]] | None:
        """The runner and the stub of ``ti``'s child for ``try_number`` (the newest), or None."""
        runner = runner_for(ti.executor_config, self.settings.runner_job_id)
        identity = _task_key(ti.key).identity
        stubs = self._hook.list_jobs_blocking(
            identity.children_prefix(runner), index=0, wait=1, meta=True
        )[0]
        mine = [s for s in stubs if try_of(s) == try_number]
        if not mine:
            return None
        return runner, max(mine, key=lambda s: s.get("CreateIndex", 0))

    def try_adopt_task_instances(self, tis: Sequence[TaskInstance]) -> Sequence[TaskInstance]:
        """Watch again the children of tries a dead scheduler started; the rest is reset."""
        not_adopted = []
        for ti in tis:
            try:
                found = self._find_child(ti, ti.try_number)
            except (NomadProviderError, ValueError) as exc:
                self.log.warning("Cannot look up the Nomad child of %s: %s", ti, exc)
                found = None
            if found is None:
                not_adopted.append(ti)
                continue
            runner, stub = found
            child = WatchedChild(stub["ID"], None, int(stub.get("CreateIndex") or 0))
            self._follow(ti.key, runner, child)
            self.log.info("Adopted %s: it runs as Nomad job %s", ti, stub["ID"])
        return not_adopted

    # -- logs -------------------------------------------------------------------------------

    def get_task_log(self, ti: TaskInstance, try_number: int) -> tuple[list[str], list[str]]:
        """The try's stdout and stderr, read from its allocation through Nomad's fs API.

        Airflow asks only while the try runs; once it ended, the log comes from the task log
        handler (remote logging, or a log folder shared with the runner's nodes).
        """
        try:
            found = self._find_child(ti, try_number)
            if found is None:
                return [], []
            _, stub = found
            allocs = latest_allocations(self._hook.get_job_allocations(stub["ID"]))
            if not allocs:
                return [f"Nomad job {stub['ID']} has no allocation yet"], []
            alloc = allocs[-1]
            task = self.settings.runner_task_name or next(iter(alloc.get("TaskStates") or {}), "")
            if not task:
                return [f"Nomad allocation {alloc['ID']} has not started a task yet"], []
            lines: list[str] = []
            for stream in ("stdout", "stderr"):
                data = b"".join(self._hook.read_log(alloc["ID"], task, stream))
                lines.extend(data.decode("utf-8", "replace").splitlines())
            source = f"Nomad allocation {alloc['ID']} task {task} ({stub['ID']})"
            return [source], lines
        except NomadProviderError as exc:
            return [f"Could not read the log from Nomad: {exc}"], []
