"""Trigger that follows a Nomad job from the triggerer, streaming its logs into the task log."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow.configuration import conf
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_nomad.exceptions import NomadApiError, NomadProviderError
from airflow_provider_nomad.hooks.nomad import NomadAsyncHook, NomadHook
from airflow_provider_nomad.nomad.checkpoint import LogCheckpoint, merge_offsets
from airflow_provider_nomad.nomad.follow import JobFollower
from airflow_provider_nomad.nomad.job_watch import JobChangeWatch, watch_for
from airflow_provider_nomad.nomad.outcome import JobOutcome, JobResult
from airflow_provider_nomad.nomad.selection import select_allocations
from airflow_provider_nomad.triggers.config import TriggererSettings
from airflow_provider_nomad.triggers.open_files import raise_open_file_limit


@dataclass
class NomadJobEvent:
    """The one event a :class:`NomadJobTrigger` fires: how the job ended, or why waiting failed.

    :param job_id: the followed job.
    :param outcome: the job's outcome (``None`` only when ``error`` is set).
    :param offsets: log bytes already written to the task log, per allocation/task/stream.
    :param error: why the trigger could not follow the job (e.g. Nomad unreachable for longer
        than the retry budget); the job itself may still be running.
    """

    job_id: str
    outcome: JobOutcome | None = None
    offsets: dict[str, int] = field(default_factory=dict)
    adopted: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "outcome": self.outcome.to_dict() if self.outcome else None,
            "offsets": dict(self.offsets),
            "adopted": self.adopted,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NomadJobEvent:
        outcome = data.get("outcome")
        return cls(
            job_id=data["job_id"],
            outcome=JobOutcome.from_dict(outcome) if outcome else None,
            offsets=dict(data.get("offsets") or {}),
            adopted=data.get("adopted"),
            error=data.get("error"),
        )


class NomadJobTrigger(BaseTrigger):
    """Follow a Nomad job to its end, streaming its logs.

    The triggers of one triggerer that talk to the same connection, namespace and region share
    one Nomad event stream (:mod:`~airflow_provider_nomad.nomad.job_watch`): each reads its own
    job's state only when the stream says the job changed. Where the stream is refused (an ACL
    token without ``read-job`` on the namespace, an older server, a proxy), each trigger waits
    with its own blocking queries.

    Serializes only what rebuilds the hook and the wait. As lines reach the task log, their
    offsets are saved in an XCom of the task instance (:mod:`~airflow_provider_nomad.nomad.
    checkpoint`): a triggerer that dies and is replaced resumes after the last saved line
    instead of writing again everything since the deferral.

    :param job_id: the job to follow (a dispatched child, or any batch job).
    :param nomad_conn_id: connection of type ``nomad``.
    :param namespace: Nomad namespace override.
    :param region: Nomad region override.
    :param dispatch_eval_id: the evaluation the dispatch created, when known.
    :param created_index: ``dispatch_eval_id``'s ``CreateIndex`` (the ``EvalCreateIndex`` a
        dispatch or registration answers), for a job that very request created (a dispatched
        child, a new job ID); ``None`` when the job may be older than that evaluation. Given,
        the shared stream may hold the job's whole history, and the trigger reads nothing it
        delivered.
    :param deadline: wall-clock time (seconds since the epoch) derived from the task's
        ``execution_timeout``: past it the trigger stops the job and reports a timeout, since
        Airflow does not enforce ``execution_timeout`` while a task is deferred.
    :param offsets: log bytes already written to the task log.
    :param stream_logs: stream the job's stdout/stderr into the task log.
    :param adopted: how the operator came to this child (passed through to the event).
    :param alloc_id: follow only this allocation (and its reschedules).
    :param task_group: follow only this task group's allocations.
    :param stop_on_deadline: stop the job when the deadline passes (the operator's own child);
        a sensor watching someone else's job only reports the timeout.
    :param shared_watch: wait through the triggerer's shared event stream (default); ``False``
        waits with this trigger's own blocking queries. The triggerer's
        ``[nomad_triggerer] shared_watch = False`` turns it off for every trigger, and
        ``[nomad_triggerer] watch_linger`` (seconds, default 60) keeps the stream open that long
        after its last trigger ended, for the next task's trigger.
    """

    def __init__(
        self,
        *,
        job_id: str,
        nomad_conn_id: str = NomadHook.default_conn_name,
        namespace: str | None = None,
        region: str | None = None,
        dispatch_eval_id: str | None = None,
        created_index: int | None = None,
        deadline: float | None = None,
        offsets: Mapping[str, int] | None = None,
        stream_logs: bool = True,
        adopted: str | None = None,
        alloc_id: str | None = None,
        task_group: str | None = None,
        stop_on_deadline: bool = True,
        shared_watch: bool = True,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.nomad_conn_id = nomad_conn_id
        self.namespace = namespace
        self.region = region
        self.dispatch_eval_id = dispatch_eval_id
        self.created_index = created_index
        self.deadline = deadline
        self.offsets = dict(offsets or {})
        self.stream_logs = stream_logs
        self.adopted = adopted
        self.alloc_id = alloc_id
        self.task_group = task_group
        self.stop_on_deadline = stop_on_deadline
        self.shared_watch = shared_watch
        self._follower: JobFollower | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "nomad_conn_id": self.nomad_conn_id,
                "namespace": self.namespace,
                "region": self.region,
                "dispatch_eval_id": self.dispatch_eval_id,
                "created_index": self.created_index,
                "deadline": self.deadline,
                # Once running, the offsets reached so far: a trigger rebuilt from this
                # resumes after the last line written.
                "offsets": self._follower.offsets if self._follower else dict(self.offsets),
                "stream_logs": self.stream_logs,
                "adopted": self.adopted,
                "alloc_id": self.alloc_id,
                "task_group": self.task_group,
                "stop_on_deadline": self.stop_on_deadline,
                "shared_watch": self.shared_watch,
            },
        )

    def _hook(self) -> NomadAsyncHook:
        return NomadAsyncHook(self.nomad_conn_id, namespace=self.namespace, region=self.region)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # Read in the triggerer, so its own configuration decides, whatever the DAGs say.
        settings = TriggererSettings.read(conf, self.log)
        if settings.raise_open_file_limit:
            raise_open_file_limit(self.log)
        event = NomadJobEvent(job_id=self.job_id, offsets=dict(self.offsets), adopted=self.adopted)
        checkpoint = LogCheckpoint(
            self.task_instance if self.stream_logs else None,
            lambda: self._follower.offsets if self._follower else {},
            self.log,
        )
        offsets = merge_offsets(self.offsets, await checkpoint.load())
        if offsets != self.offsets:
            self.log.info(
                "Resuming the logs of Nomad job %s where an earlier triggerer left off",
                self.job_id,
            )
        try:
            async with self._hook() as hook:
                self._follower = JobFollower(
                    hook,
                    self.job_id,
                    dispatch_eval_id=self.dispatch_eval_id,
                    created_index=self.created_index,
                    offsets=offsets,
                    log=self.log,
                    follow_logs=self.stream_logs,
                    deadline=self.deadline,
                    alloc_selector=select_allocations(self.alloc_id, self.task_group),
                    on_written=checkpoint.changed,
                    changes=self._watch(settings),
                )
                event.outcome = await self._follower.run()
                event.offsets = self._follower.offsets
                if event.outcome.result is JobResult.TIMED_OUT and self.stop_on_deadline:
                    await self._stop(hook, "the execution_timeout deadline passed")
        except NomadProviderError as exc:
            event.error = str(exc)
            if self._follower is not None:
                event.offsets = self._follower.offsets
        finally:
            await checkpoint.close()
        yield TriggerEvent(event.to_dict())

    def _watch(self, settings: TriggererSettings) -> JobChangeWatch | None:
        if not self.shared_watch or not settings.shared_watch:
            return None
        return watch_for(
            self.nomad_conn_id,
            self.namespace,
            self.region,
            functools.partial(
                NomadAsyncHook, self.nomad_conn_id, namespace=self.namespace, region=self.region
            ),
            linger=settings.watch_linger,
        )

    async def _stop(self, hook: NomadAsyncHook, reason: str) -> None:
        self.log.warning("Stopping Nomad job %s: %s", self.job_id, reason)
        try:
            await hook.stop_job(self.job_id)
        except NomadApiError as exc:
            self.log.error("Could not stop Nomad job %s: %s", self.job_id, exc)

    async def on_kill(self) -> None:
        """The user killed the deferred task: stop the job it was waiting for."""
        async with self._hook() as hook:
            await asyncio.wait_for(self._stop(hook, "the task was killed"), timeout=30)

    async def cleanup(self) -> None:
        """Never stops the job: cleanup also runs when a triggerer restarts or hands over."""
