"""Sensor that waits for a Nomad job's allocations to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, conf

from airflow_provider_nomad.exceptions import NomadInvalidInputError
from airflow_provider_nomad.hooks.nomad import NomadAsyncHook, NomadHook
from airflow_provider_nomad.nomad.checkpoint import start_log_checkpoint
from airflow_provider_nomad.nomad.follow import JobFollower
from airflow_provider_nomad.nomad.outcome import JobOutcome, JobResult
from airflow_provider_nomad.nomad.report import raise_for_outcome, read_stderr_tail, summary
from airflow_provider_nomad.nomad.requests import check_id
from airflow_provider_nomad.nomad.selection import select_allocations

if TYPE_CHECKING:
    from airflow.sdk import Context


class NomadAllocationSensor(BaseSensorOperator):
    """Wait until a Nomad job's allocations have ended; succeed if every task exited 0.

    Works on any job, dispatched or not. Each poke is a blocking query bounded by the poke
    interval, so a poke returns as soon as an allocation changes rather than on the next tick.
    The outcome rules are the operator's: restarts and reschedules are followed to the final
    allocation, and a failure raises the operator's typed error (``NomadJobFailedError``,
    ``NomadPlacementError``) with exit code, signal, OOM, the last lines of stderr and the UI
    link, in every mode, whether or not the logs are fetched.

    :param job_id: the job whose allocations to wait for. (templated)
    :param alloc_id: wait only for this allocation (ID or prefix) and its reschedules. (templated)
    :param group: wait only for the allocations of this task group (the jobspec's ``group``).
        Not ``task_group``: that name is Airflow's own operator attribute. (templated)
    :param fetch_logs: once they ended, write the allocations' stdout/stderr to the task log.
    :param namespace: Nomad namespace override. (templated)
    :param nomad_conn_id: connection of type ``nomad``.
    :param deferrable: wait in the triggerer.
    """

    template_fields: Sequence[str] = ("job_id", "alloc_id", "group", "namespace")
    ui_color = "#00ca8e"

    def __init__(
        self,
        *,
        job_id: str,
        alloc_id: str | None = None,
        group: str | None = None,
        fetch_logs: bool = False,
        namespace: str | None = None,
        region: str | None = None,
        nomad_conn_id: str = NomadHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.alloc_id = alloc_id
        self.group = group
        self.fetch_logs = fetch_logs
        self.namespace = namespace
        self.region = region
        self.nomad_conn_id = nomad_conn_id
        self.deferrable = deferrable
        self._allocs_index = 0
        self._outcome: JobOutcome | None = None

    @cached_property
    def hook(self) -> NomadHook:
        return NomadHook(self.nomad_conn_id, namespace=self.namespace, region=self.region)

    def execute(self, context: Context) -> Any:
        self._check_job_id()
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_nomad.triggers.nomad import NomadJobTrigger

        deadline = None
        if self.timeout:
            deadline = time.time() + float(self.timeout)
        if self.fetch_logs:
            start_log_checkpoint(context["ti"])
        self.defer(
            trigger=NomadJobTrigger(
                job_id=self.job_id,
                nomad_conn_id=self.nomad_conn_id,
                namespace=self.namespace,
                region=self.region,
                deadline=deadline,
                stream_logs=self.fetch_logs,
                alloc_id=self.alloc_id,
                task_group=self.group,
                stop_on_deadline=False,
            ),
            method_name="execute_complete",
        )

    def _check_job_id(self) -> None:
        """Refuse a rendered ``job_id`` that cannot name a job, before any request."""
        try:
            check_id(self.job_id, "job ID")
        except ValueError as exc:
            raise NomadInvalidInputError(f"job_id: {exc}") from None

    def poke(self, context: Context) -> bool:
        outcome = asyncio.run(self._wait_once(float(self.poke_interval)))
        if outcome.result is JobResult.TIMED_OUT:
            self.log.info("Allocations of %s have not ended yet", self.job_id)
            return False
        if self.fetch_logs:
            # The copy of the logs saw the failed tasks' stderr: its tail saves a second read.
            outcome.stderr_tail = asyncio.run(self._fetch_logs())
        self._outcome = outcome
        self._raise_for(outcome)
        return True

    def _raise_for(self, outcome: JobOutcome) -> None:
        """Raise the typed failure of an ended job, with its last lines of stderr."""
        if outcome.succeeded:
            return
        if not outcome.stderr_tail:
            # Nothing streamed the logs: read the failed tasks' stderr back for the report.
            outcome.stderr_tail = read_stderr_tail(self.hook, outcome, self.log)
        raise_for_outcome(outcome, ui_url=self.hook.job_ui_url(self.job_id))

    async def _wait_once(self, seconds: float) -> JobOutcome:
        async with self._async_hook() as hook:
            follower = JobFollower(
                hook,
                self.job_id,
                log=self.log,
                follow_logs=False,
                deadline=time.time() + max(1.0, seconds),
                alloc_selector=select_allocations(self.alloc_id, self.group),
                allocs_index=self._allocs_index,
            )
            outcome = await follower.run()
            self._allocs_index = follower.allocs_index
            return outcome

    async def _fetch_logs(self) -> list[str]:
        """Copy the ended allocations' logs into the task log; the failed tasks' stderr tail."""
        async with self._async_hook() as hook:
            logged = await JobFollower(
                hook,
                self.job_id,
                log=self.log,
                alloc_selector=select_allocations(self.alloc_id, self.group),
            ).run()
            return logged.stderr_tail

    def _async_hook(self) -> NomadAsyncHook:
        return NomadAsyncHook(self.nomad_conn_id, namespace=self.namespace, region=self.region)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        from airflow_provider_nomad.exceptions import NomadProviderError
        from airflow_provider_nomad.triggers.nomad import NomadJobEvent

        job_event = NomadJobEvent.from_dict(event)
        if job_event.error or job_event.outcome is None:
            raise NomadProviderError(
                f"Waiting for Nomad job {self.job_id} in the triggerer failed: {job_event.error}"
            )
        url = self.hook.job_ui_url(self.job_id)
        if job_event.outcome.result is JobResult.TIMED_OUT:
            from airflow.sdk.exceptions import AirflowSensorTimeout

            raise AirflowSensorTimeout(
                f"Allocations of Nomad job {self.job_id} did not end within {self.timeout} s"
            )
        self._raise_for(job_event.outcome)
        return summary(job_event.outcome, parent_job_id=None, adopted=None, url=url)
