"""Operators that register, dispatch, run and stop Nomad jobs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowTaskTimeout
from airflow.sdk.observability.stats import Stats

from airflow_provider_nomad.exceptions import (
    NomadApiError,
    NomadForeignChildError,
    NomadInvalidInputError,
    NomadJobTimeoutError,
    NomadNotFoundError,
    NomadProviderError,
)
from airflow_provider_nomad.hooks.nomad import NomadAsyncHook, NomadHook
from airflow_provider_nomad.links.nomad import JOB_URL_XCOM_KEY, NomadJobLink
from airflow_provider_nomad.nomad.checkpoint import start_log_checkpoint
from airflow_provider_nomad.nomad.dispatch_input import (
    check_against_parent,
    check_result_file,
    encode_payload,
    normalize_meta,
)
from airflow_provider_nomad.nomad.follow import JobFollower
from airflow_provider_nomad.nomad.handover import (
    cleared_before_this_try,
    dispatched_after_a_clear,
    dispatching_try,
)
from airflow_provider_nomad.nomad.identity import TaskIdentity
from airflow_provider_nomad.nomad.job_state import read_job_state
from airflow_provider_nomad.nomad.jobspec_input import load_job
from airflow_provider_nomad.nomad.outcome import JobOutcome, JobResult, assess
from airflow_provider_nomad.nomad.report import raise_for_outcome, summary
from airflow_provider_nomad.nomad.result_location import result_allocation
from airflow_provider_nomad.nomad.run_job import (
    check_result_file_in_job,
    check_runnable,
    job_for_try,
    registered_after_a_clear,
    registering_try,
    run_job_id,
    run_job_prefix,
)
from airflow_provider_nomad.nomad.signature import dispatch_token, signed_meta, unverified_reason
from airflow_provider_nomad.nomad.states import JobStatus

if TYPE_CHECKING:
    from airflow.sdk import Context

#: XCom keys pushed before the wait, so links and downstream tasks see the child at once.
JOB_ID_XCOM_KEY = "nomad_job_id"
ALLOC_IDS_XCOM_KEY = "nomad_alloc_ids"


#: How long past its tasks' ``kill_timeout`` a stopped job's allocations may still be reported
#: running before a try gives up waiting for them (a client reports its allocations in
#: batches, and a busy one late).
STOPPED_JOB_GRACE = 120.0


def _kill_timeout(job: dict[str, Any]) -> float:
    """The longest ``kill_timeout`` of the job's tasks, in seconds (Nomad's default: 5 s)."""
    timeouts = [
        (task.get("KillTimeout") or 5 * 10**9) / 10**9
        for group in job.get("TaskGroups") or []
        for task in group.get("Tasks") or []
    ]
    return max(timeouts, default=5.0)


def _still_on_a_client(stub: dict[str, Any]) -> bool:
    """Whether a job stub's summary counts allocations that a client still runs or starts
    (the summary follows the clients' reports, not what the servers asked for)."""
    groups = ((stub.get("JobSummary") or {}).get("Summary") or {}).values()
    return any((g.get("Running") or 0) + (g.get("Starting") or 0) > 0 for g in groups)


def _first_try_since_the_last_clear(jobs: list[dict[str, Any]]) -> int:
    """The try that the newest clear started, for run jobs (stubs listed with their meta): the
    newest job a cleared try marked; 1 when there is none.

    Airflow's ``max_tries`` could tell it too, but only while the task's ``retries`` is what it
    was at the clear: a DAG that lowered it would then make a plain retry look cleared, and run
    a batch twice. The marks never do.
    """
    return max([1, *(registering_try(j["ID"]) or 0 for j in jobs if registered_after_a_clear(j))])


def _eval_create_index(response: dict[str, Any]) -> int | None:
    """The ``EvalCreateIndex`` of a dispatch's or registration's answer (``None`` if absent)."""
    return int(response.get("EvalCreateIndex") or 0) or None


class _NomadOperator(BaseOperator):
    """What every Nomad operator shares: the connection, namespace and region, and the hook.

    :param namespace: Nomad namespace; overrides the connection's. (templated where listed)
    :param region: Nomad region; overrides the connection's.
    :param nomad_conn_id: connection of type ``nomad``.
    """

    ui_color = "#00ca8e"

    def __init__(
        self,
        *,
        namespace: str | None = None,
        region: str | None = None,
        nomad_conn_id: str = NomadHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.namespace = namespace
        self.region = region
        self.nomad_conn_id = nomad_conn_id

    @cached_property
    def hook(self) -> NomadHook:
        return NomadHook(self.nomad_conn_id, namespace=self.namespace, region=self.region)


class _FollowingJobOperator(_NomadOperator):
    """What the operators that start a job and follow it to its end share.

    One way to wait (:class:`~airflow_provider_nomad.nomad.follow.JobFollower`, on the worker
    or in :class:`~airflow_provider_nomad.triggers.nomad.NomadJobTrigger`), one way to report
    (:func:`~airflow_provider_nomad.nomad.report.raise_for_outcome`), one way to read a result
    file and to stop the job on kill or timeout. Subclasses decide which job to follow.
    """

    def __init__(
        self,
        *,
        deferrable: bool = False,
        stream_logs: bool = True,
        result_file: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.stream_logs = stream_logs
        self.result_file = result_file
        # The child this try waits for, from the moment Nomad named it (``_announce``) until
        # the try has seen it end: what on_kill stops. Airflow also kills a task that is slow to
        # report its success (``[core] task_success_overtime``); a child seen ending, or one the
        # task was told not to wait for, is not stopped then.
        self._awaited_child: str | None = None
        # Set when this try's own request created the job: the CreateIndex of the evaluation
        # it answered with (the shared watch may then follow the job from the events alone).
        self._created_index: int | None = None

    def _parent_job_id(self) -> str | None:
        """The parent reported in the summary (a dispatched child's parameterized job)."""
        return None

    def _async_hook(self) -> NomadAsyncHook:
        return NomadAsyncHook(self.nomad_conn_id, namespace=self.namespace, region=self.region)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: re-check the outcome through the hook, then report."""
        from airflow_provider_nomad.triggers.nomad import NomadJobEvent

        job_event = NomadJobEvent.from_dict(event)
        if job_event.error:
            raise NomadProviderError(
                f"Waiting for Nomad job {job_event.job_id} in the triggerer failed: "
                f"{job_event.error}"
            )
        outcome = job_event.outcome
        if outcome.result is JobResult.TIMED_OUT:
            raise NomadJobTimeoutError(
                f"Nomad job {job_event.job_id} did not end within execution_timeout "
                f"({self.execution_timeout}); it was stopped."
            )
        checked = self._current_outcome(job_event.job_id)
        if checked is None:
            # Nomad may have garbage-collected the job between the event and now: what the
            # trigger saw is then the only record of how it ended.
            self.log.warning(
                "Nomad no longer reports an end for %s (garbage-collected?); using the outcome "
                "the trigger saw: %s",
                job_event.job_id,
                outcome.result.value,
            )
            checked = outcome
        checked.stderr_tail = outcome.stderr_tail
        return self._finish(context, checked, adopted=job_event.adopted)

    def on_kill(self) -> None:
        if self._awaited_child:
            self._stop_child(self._awaited_child, reason="task killed")

    def _retire_cleared_children(self, live: list[dict[str, Any]]) -> None:
        """Stop the live children of a cleared try and wait until they have ended.

        The earlier try's own kill (its trigger's ``on_kill``) stops them too, from the
        triggerer and at its own pace; stopping them here as well makes the order of the two
        irrelevant, and waiting for their end keeps two copies of the batch from overlapping.
        """
        for child in live:
            self.log.warning(
                "This task instance was cleared while %s (of an earlier try) was still %s: "
                "stopping it and waiting for it to end before running the batch anew",
                child["ID"],
                child.get("Status"),
            )
            self.hook.stop_job(child["ID"])
        for child in live:
            self._wait_for_stopped_job(child["ID"])

    def _wait_until_stopped_jobs_ended(self, jobs: list[dict[str, Any]]) -> None:
        """Wait for the end of the ``jobs`` (stubs) that were stopped but still run on a client.

        Nomad calls a job dead as soon as its allocations are told to stop, while their tasks
        run on until they exit (up to the task's ``kill_timeout``): an earlier try's job that
        its kill, a timeout or a person stopped a moment ago. Running the batch anew before
        that end would let two copies overlap.
        """
        for job in [job for job in jobs if job.get("Stop") and _still_on_a_client(job)]:
            self.log.warning(
                "%s was stopped but still runs on a client: waiting for it to end before "
                "running the batch anew",
                job["ID"],
            )
            self._wait_for_stopped_job(job["ID"])

    def _wait_for_stopped_job(self, job_id: str) -> None:
        """Follow a stopped job until a client reports its end, at most its tasks'
        ``kill_timeout`` plus :data:`STOPPED_JOB_GRACE`; past that, fail the try naming it (a
        client that went down leaves its allocations running in Nomad's view)."""
        try:
            bound = _kill_timeout(self.hook.get_job(job_id)) + STOPPED_JOB_GRACE
            outcome = asyncio.run(
                self._follow(job_id, None, deadline=time.time() + bound, logs=False)
            )
        except NomadNotFoundError:
            return  # purged: nothing of it is left to watch
        if outcome.result is JobResult.TIMED_OUT:
            raise NomadJobTimeoutError(
                f"{job_id}, an earlier run of this batch, was stopped, but a client still "
                f"reported it running {bound:.0f} s later (its tasks' kill_timeout plus "
                f"{STOPPED_JOB_GRACE:.0f} s). Running the batch anew beside it could run it "
                f"twice, so nothing was started. Look at its allocations (`nomad job status "
                f"{job_id}`): a client that went down leaves them running in Nomad's view. "
                f"Once they have ended, or the job is purged (`nomad job stop -purge "
                f"{job_id}`), clear this task."
            )
        self.log.info("%s ended (%s)", job_id, outcome.reason)

    def _newest_succeeded(
        self,
        children: list[dict[str, Any]],
        ours: Callable[[dict[str, Any]], bool] | None = None,
    ) -> str | None:
        """ID of the newest child that ran to success, or None.

        :param ours: whether the task instance may adopt a succeeded child (its stub).
        """
        for child in sorted(children, key=lambda c: c.get("CreateIndex", 0), reverse=True):
            earlier = self._current_outcome(child["ID"])
            if earlier is not None and earlier.succeeded and (ours is None or ours(child)):
                return child["ID"]
        return None

    async def _follow(
        self, job_id: str, eval_id: str | None, deadline: float | None, *, logs: bool = True
    ) -> JobOutcome:
        async with self._async_hook() as hook:
            follower = JobFollower(
                hook,
                job_id,
                dispatch_eval_id=eval_id,
                log=self.log,
                follow_logs=self.stream_logs and logs,
                deadline=deadline,
            )
            return await follower.run()

    def _announce(self, ti: Any, job_id: str, *, awaited: bool) -> str:
        """Push the job's ID and link to XCom and log them; return the link.

        :param awaited: the try goes on to wait for the job, so a kill from now on stops it.
        """
        if awaited:
            # Before the pushes, not at the start of the wait: each push is a round trip to
            # Airflow that a kill (SIGTERM, execution_timeout) can land in, and a child left
            # running then would go on with nobody watching it.
            self._awaited_child = job_id
        url = self.hook.job_ui_url(job_id)
        ti.xcom_push(key=JOB_ID_XCOM_KEY, value=job_id)
        ti.xcom_push(key=JOB_URL_XCOM_KEY, value=url)
        ti.xcom_push(key=NomadJobLink().xcom_key, value=url)
        self.log.info("Nomad job %s: %s", job_id, url)
        return url

    def _await(
        self, context: Context, job_id: str, eval_id: str | None, adopted: str | None
    ) -> dict[str, Any]:
        """Wait for the job's end here or in the triggerer, and report it (``_announce`` has
        claimed the job for ``on_kill``)."""
        if self.deferrable:
            self._defer(context["ti"], job_id, eval_id, adopted)
        started = time.monotonic()
        try:
            outcome = asyncio.run(self._follow(job_id, eval_id, deadline=None))
        except AirflowTaskTimeout:
            self._stop_child(job_id, reason="execution_timeout")
            raise
        self._awaited_child = None
        Stats.timing("nomad.job.duration", timedelta(seconds=time.monotonic() - started))
        return self._finish(context, outcome, adopted=adopted)

    def _defer(self, ti: Any, job_id: str, eval_id: str | None, adopted: str | None) -> None:
        from airflow_provider_nomad.triggers.nomad import NomadJobTrigger

        if self.stream_logs:
            start_log_checkpoint(ti)
        deadline = None
        if self.execution_timeout is not None:
            deadline = time.time() + self.execution_timeout.total_seconds()
        self.defer(
            trigger=NomadJobTrigger(
                job_id=job_id,
                nomad_conn_id=self.nomad_conn_id,
                namespace=self.namespace,
                region=self.region,
                dispatch_eval_id=eval_id,
                created_index=self._created_index,
                deadline=deadline,
                stream_logs=self.stream_logs,
                adopted=adopted,
            ),
            method_name="execute_complete",
        )

    def _current_outcome(self, job_id: str) -> JobOutcome | None:
        """The job's outcome as Nomad reports it now, or None if it has not ended (or Nomad
        has garbage-collected it and no longer knows)."""
        allocs, job_evals = read_job_state(self.hook, job_id)
        first_eval = min(job_evals, key=lambda e: e.get("CreateIndex", 0), default=None)
        return assess(
            job_id,
            allocs,
            {e["ID"]: e for e in job_evals},
            dispatch_eval_id=first_eval["ID"] if first_eval else None,
        ).outcome

    def _finish(self, context: Context, outcome: JobOutcome, adopted: str | None) -> dict[str, Any]:
        ti = context["ti"]
        ti.xcom_push(key=ALLOC_IDS_XCOM_KEY, value=outcome.alloc_ids)
        url = self.hook.job_ui_url(outcome.job_id)
        if not outcome.succeeded:
            Stats.incr("nomad.job.failed")
            if outcome.result in (JobResult.PLACEMENT_FAILED, JobResult.LOST):
                # A blocked evaluation (or a lost allocation's replacement) can still be placed
                # later, when capacity frees up: the batch would then run with nobody watching,
                # after the task reported it failed, and a retry would run it a second time.
                self._stop_child(outcome.job_id, reason=f"reported {outcome.result.value}")
            raise_for_outcome(outcome, ui_url=url)
        result = summary(outcome, parent_job_id=self._parent_job_id(), adopted=adopted, url=url)
        if self.result_file is not None:
            result["result"] = self._read_result_file(outcome)
        self.log.info("Nomad job %s succeeded: %s", outcome.job_id, outcome.reason)
        return result

    def _read_result_file(self, outcome: JobOutcome) -> Any:
        alloc_id = result_allocation(
            self.result_file, outcome.final_alloc_ids, [(t.alloc_id, t.task) for t in outcome.tasks]
        )
        # Said in every failure: the retry this failure may lead to re-reads, never re-runs.
        retry = (
            f"A retry of this task reads the result of {outcome.job_id} again, while Nomad "
            "keeps that job (until its garbage collection or a purge); it does not run the "
            "batch again."
        )
        try:
            raw = self.hook.read_alloc_file(alloc_id, self.result_file)
            return json.loads(raw)
        except NomadApiError as exc:
            raise NomadInvalidInputError(
                f"The batch succeeded but its result file {self.result_file!r} could not be "
                f"read from allocation {alloc_id}: {exc}. Check that the batch writes it there "
                "('alloc/...' is $NOMAD_ALLOC_DIR) and that the connection's ACL token has the "
                f"read-fs capability. {retry}"
            ) from None
        except ValueError as exc:
            raise NomadInvalidInputError(
                f"The batch succeeded but its result file {self.result_file!r} is not JSON: "
                f"{exc}. {retry}"
            ) from None

    def _stop_child(self, job_id: str, reason: str) -> None:
        self.log.warning("Stopping Nomad job %s (%s)", job_id, reason)
        try:
            self.hook.stop_job(job_id)
        except NomadApiError as exc:
            self.log.error("Could not stop Nomad job %s: %s", job_id, exc)


class NomadDispatchJobOperator(_FollowingJobOperator):
    """Dispatch a parameterized Nomad batch job, follow it to its end and stream its logs.

    The task dispatches at most one child at a time: a later try of the same task instance
    (after a worker died, or a retry) adopts the child an earlier try left pending or running,
    and every dispatch request carries an idempotency token, so a request retried after a
    dropped connection returns the child the first one created.

    A child that an earlier try ran to success is adopted too, instead of running the batch
    again, when ``adopt_succeeded_child`` is on or a ``result_file`` is set. With a result
    file, the batch's success and its result are one outcome: if the batch succeeded but its
    result could not be read (the fs API refused or was unreachable, the allocation was
    garbage-collected, the file is missing or not JSON), the task fails, and its retry reads
    the result of that same child again; it never runs the batch a second time. To run the
    batch again in the same DAG run, stop and purge that child first
    (``nomad job stop -purge <child ID>``), or trigger a new DAG run.

    All arguments are checked before anything is dispatched; bad ones fail the task with
    :class:`~airflow_provider_nomad.exceptions.NomadInvalidInputError` naming the fix.

    :param job_id: ID of the parameterized parent job. (templated)
    :param meta: dispatch meta; every value must be a string, all of them together at most
        64 KiB (UTF-8; they reach the task as environment variables). Checked against the
        parent's ``meta_required`` / ``meta_optional``. (templated)
    :param payload: dispatch payload: ``str``, ``bytes``, or a dict/list sent as JSON (no
        NaN or Infinity, no keys that collide once made strings, such as ``1`` and ``"1"``);
        at most 16 KiB; checked against the parent's ``payload`` setting. (templated)
    :param namespace: Nomad namespace; overrides the connection's. (templated)
    :param region: Nomad region; overrides the connection's.
    :param nomad_conn_id: connection of type ``nomad``.
    :param wait_for_completion: follow the child to its end (default). Without it the task
        returns once the child is dispatched.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :param adopt_succeeded_child: for batches that must run at most once per task instance: a
        child that an earlier try ran to success is adopted (its outcome reported again)
        instead of dispatching a new one, by a retry and by a try after a clear alike (purge
        the child to run the batch again). Off by default: without a ``result_file``, a retry
        dispatches anew once the earlier child has ended.
    :param stream_logs: stream the child's stdout/stderr into the task log while it runs.
    :param result_file: path of a JSON file the batch writes, relative to the allocation
        directory: ``alloc/result.json`` (the batch writes ``$NOMAD_ALLOC_DIR/result.json``)
        or ``<task>/local/out.json`` (``$NOMAD_TASK_DIR/out.json``). Read back through
        Nomad's fs API and returned under ``"result"``. A succeeded child of an earlier try
        is adopted and its result read again, never run again (see above). (templated)
    """

    template_fields: Sequence[str] = ("job_id", "meta", "payload", "namespace", "result_file")
    template_fields_renderers = {"meta": "json", "payload": "json"}
    operator_extra_links = (NomadJobLink(),)

    def __init__(
        self,
        *,
        job_id: str,
        meta: Mapping[str, str] | None = None,
        payload: str | bytes | Mapping[str, Any] | list[Any] | None = None,
        namespace: str | None = None,
        region: str | None = None,
        nomad_conn_id: str = NomadHook.default_conn_name,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        adopt_succeeded_child: bool = False,
        stream_logs: bool = True,
        result_file: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            namespace=namespace,
            region=region,
            nomad_conn_id=nomad_conn_id,
            deferrable=deferrable,
            stream_logs=stream_logs,
            result_file=result_file,
            **kwargs,
        )
        self.job_id = job_id
        self.meta = meta
        self.payload = payload
        self.wait_for_completion = wait_for_completion
        self.adopt_succeeded_child = adopt_succeeded_child

    def _parent_job_id(self) -> str | None:
        return self.job_id

    # -- execute ----------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        if not isinstance(self.job_id, str) or not self.job_id.strip():
            raise NomadInvalidInputError(
                f"job_id must be the ID of a parameterized Nomad job, got {self.job_id!r}."
            )
        meta = normalize_meta(self.meta)
        payload = encode_payload(self.payload)
        result_file = check_result_file(self.result_file)
        parent = self._read_parent()
        check_against_parent(parent, meta, payload, result_file)

        ti = context["ti"]
        identity = TaskIdentity(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
        child, eval_id, adopted = self._adopt_or_dispatch(
            identity,
            ti.try_number,
            meta,
            payload,
            signed=signed_meta(parent, meta),
            cleared=cleared_before_this_try(ti, self.retries),
        )
        awaited = self.wait_for_completion and adopted != "succeeded"
        url = self._announce(ti, child, awaited=awaited)

        if not self.wait_for_completion:
            return {"job_id": child, "parent_job_id": self.job_id, "adopted": adopted, "url": url}
        if adopted == "succeeded":
            outcome = self._current_outcome(child)
            assert outcome is not None  # adopted only after it was seen succeeded
            return self._finish(context, outcome, adopted=adopted)
        return self._await(context, child, eval_id, adopted)

    # -- steps ------------------------------------------------------------------------------

    def _read_parent(self) -> dict[str, Any]:
        try:
            return self.hook.get_job(self.job_id)
        except NomadNotFoundError:
            raise NomadInvalidInputError(
                f"Nomad has no job {self.job_id!r} in namespace "
                f"{self.hook.settings.namespace!r}. Register the parameterized job first "
                "(NomadRegisterJobOperator or `nomad job run`), or fix job_id/namespace."
            ) from None

    def _adopt_or_dispatch(
        self,
        identity: TaskIdentity,
        try_number: int,
        meta: dict[str, str],
        payload: bytes | None,
        *,
        signed: dict[str, str],
        cleared: bool = False,
    ) -> tuple[str, str | None, str | None]:
        """Return ``(child job ID, dispatch eval ID or None, how it was adopted or None)``.

        Only a child this task instance dispatched is adopted
        (:mod:`~airflow_provider_nomad.nomad.signature`); one that merely carries its name
        fails the try (:class:`NomadForeignChildError`), which neither adopts it nor
        dispatches beside it.

        :param signed: the child's dispatcher-set meta, which the dispatch's token signs.
        :param cleared: this try exists because the task instance was cleared (see
            :mod:`~airflow_provider_nomad.nomad.handover`): a live child of an earlier try is
            stopped and waited for instead of adopted, and a succeeded one is not reused
            unless ``adopt_succeeded_child`` says so. Its dispatch is marked, for the retries
            after it (:meth:`_since_the_last_clear`).
        """
        self._created_index = None
        children = self.hook.list_jobs(prefix=identity.children_prefix(self.job_id))
        live = [c for c in children if c.get("Status") in JobStatus.LIVE and not c.get("Stop")]
        listed = children
        read: dict[str, dict[str, Any]] = {}
        from_before_the_clear = False
        if live and not cleared:
            child = self._newest_of_ours(live, identity)
            # A live child older than a cleared try's: neither that try nor the earlier try's
            # own stop ended it.
            read[child["ID"]] = child
            newer = [c for c in children if c.get("CreateIndex", 0) > child.get("CreateIndex", 0)]
            since = self._since_the_last_clear([*newer, child], identity, read)
            from_before_the_clear = child["ID"] not in {c["ID"] for c in since}
        if live and (cleared or from_before_the_clear):
            # The child this very try dispatched (the try runs again) is its batch: kept.
            own = self._dispatched_by_this_try(live, identity, try_number) if cleared else None
            self._retire_cleared_children([c for c in live if own is None or c["ID"] != own["ID"]])
            live = [] if own is None else [own]
            child = own
        if live:
            if len(live) > 1:
                self.log.warning(
                    "Found %d live children of this task instance; adopting the newest it "
                    "dispatched, %s",
                    len(live),
                    child["ID"],
                )
            self._log_adoption(child, identity, try_number)
            Stats.incr("nomad.dispatch.adopted")
            return child["ID"], None, "running"
        if self.adopt_succeeded_child or (self.result_file is not None and not cleared):
            if not self.adopt_succeeded_child:
                # Reading a result again, not keeping a batch from ever running twice: a
                # result from before a clear is not this run's.
                children = self._since_the_last_clear(children, identity, read)
            foreign: list[tuple[str, str]] = []
            succeeded = self._newest_succeeded(
                children,
                ours=(lambda stub: self._verified(stub, identity, foreign, read) is not None)
                if self.hook.settings.token
                else None,
            )
            self._refuse_foreign(foreign, adopting=succeeded)
            if succeeded is not None:
                why = (
                    "adopt_succeeded_child is on"
                    if self.adopt_succeeded_child
                    else f"only its result file {self.result_file!r} remains to be read"
                )
                self.log.info(
                    "Adopting %s: an earlier try ran it to success and %s, so the batch is not "
                    "dispatched again",
                    succeeded,
                    why,
                )
                Stats.incr("nomad.dispatch.adopted")
                return succeeded, None, "succeeded"
        self._wait_until_stopped_jobs_ended(listed)
        response = self.hook.dispatch_job(
            self.job_id,
            meta=meta,
            payload=payload,
            id_prefix_template=identity.id_prefix_template,
            idempotency_token=dispatch_token(
                identity,
                try_number,
                self.hook.settings.token,
                namespace=self.hook.settings.namespace,
                parent_id=self.job_id,
                meta=signed,
                payload=payload,
                cleared=cleared,
            ),
        )
        Stats.incr("nomad.dispatch")
        child = response["DispatchedJobID"]
        # A child this dispatch created is new: its evaluation was written with it. (A repeated
        # dispatch that Nomad answered with an existing child brings no evaluation.)
        if response.get("EvalID"):
            self._created_index = _eval_create_index(response)
        elif self.hook.settings.token:
            # Nomad answered with an existing child carrying this token: one this try's
            # earlier request created, unless someone else dispatched with it first.
            self._newest_of_ours([{"ID": child}], identity)
        self.log.info("Dispatched %s (evaluation %s)", child, response.get("EvalID") or "-")
        return child, response.get("EvalID") or None, None

    def _newest_of_ours(
        self, candidates: list[dict[str, Any]], identity: TaskIdentity
    ) -> dict[str, Any]:
        """The newest of ``candidates`` (job stubs) that this task instance dispatched, read
        whole; raise :class:`NomadForeignChildError` if none is."""
        foreign: list[tuple[str, str]] = []
        for stub in sorted(candidates, key=lambda c: c.get("CreateIndex", 0), reverse=True):
            child = self._verified(stub, identity, foreign)
            if child is not None:
                self._refuse_foreign(foreign, adopting=child["ID"])
                return child
        raise NomadForeignChildError(self._foreign_child_message(foreign))

    def _dispatched_by_this_try(
        self, live: list[dict[str, Any]], identity: TaskIdentity, try_number: int
    ) -> dict[str, Any] | None:
        """The one of the ``live`` children (stubs) that this very try dispatched, read whole."""
        for stub in live:
            child = self.hook.get_job(stub["ID"])
            if dispatching_try(child, identity) == try_number and not self._unverified_reason(
                child, identity
            ):
                return child
        return None

    def _verified(
        self,
        stub: dict[str, Any],
        identity: TaskIdentity,
        foreign: list[tuple[str, str]],
        read: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any] | None:
        """The child of ``stub`` read whole (or as found in ``read``, the children already
        read by ID), if this task instance dispatched it; otherwise None, with why in
        ``foreign``."""
        child = (read or {}).get(stub["ID"]) or self.hook.get_job(stub["ID"])
        reason = self._unverified_reason(child, identity)
        if reason is None:
            return child
        foreign.append((stub["ID"], reason))
        return None

    def _unverified_reason(self, child: dict[str, Any], identity: TaskIdentity) -> str | None:
        settings = self.hook.settings
        return unverified_reason(
            child, identity, settings.token, namespace=settings.namespace, parent_id=self.job_id
        )

    def _since_the_last_clear(
        self,
        children: list[dict[str, Any]],
        identity: TaskIdentity,
        read: dict[str, dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """The children (stubs) from the newest one a try started by a clear dispatched, on;
        all of them when there is none. One read per child, newest first (kept in ``read`` by
        ID), until it is found.

        A cleared try marks its dispatch (:meth:`TaskIdentity.idempotency_token`), signed when
        the connection has an ACL token, so a planted mark is not believed. Airflow's
        ``max_tries`` could tell the clear too, even when the cleared try failed before it
        dispatched, but only while the task's ``retries`` is what it was at the clear: a DAG
        that lowered it would make a plain retry's children look older than a clear, and run a
        batch twice. The marks never do.
        """
        newest_first = sorted(children, key=lambda c: c.get("CreateIndex", 0), reverse=True)
        for position, stub in enumerate(newest_first):
            child = read.get(stub["ID"]) or self.hook.get_job(stub["ID"])
            read[stub["ID"]] = child
            if dispatched_after_a_clear(child, identity) and not self._unverified_reason(
                child, identity
            ):
                return newest_first[: position + 1]
        return children

    def _refuse_foreign(self, foreign: list[tuple[str, str]], *, adopting: str | None) -> None:
        """Warn of the ``foreign`` children passed over for ``adopting``; with nothing to
        adopt, fail the try on them (never dispatch beside them: they may be this task's own
        batch, signed under an ACL token since replaced)."""
        if foreign and adopting is None:
            raise NomadForeignChildError(self._foreign_child_message(foreign))
        for job_id, why in foreign:
            self.log.warning(
                "Adopting %s, not %s, which is named as a child of this task instance: %s",
                adopting,
                job_id,
                why,
            )

    def _foreign_child_message(self, foreign: list[tuple[str, str]]) -> str:
        named = "; ".join(f"{job_id}: {why}" for job_id, why in foreign)
        namespace = self.hook.settings.namespace
        return (
            f"Nomad has {len(foreign)} job(s) named as children of this task instance that "
            f"this task instance did not dispatch ({named}). They are not adopted, and no "
            "batch is dispatched beside them, so the batch cannot run twice. If this provider "
            "dispatched them before the connection's ACL token changed (or a version of it "
            "that did not sign dispatches did), they are this task's own batch: let a running "
            "one end, then either mark this task succeeded or purge them "
            "(`nomad job stop -purge <ID>`) and clear it to run the batch again. Otherwise "
            "someone else dispatched them under this task's name: stop them and review who "
            f"holds dispatch-job on {self.job_id!r} in "
            f"namespace {namespace!r}."
        )

    def _log_adoption(self, child: dict[str, Any], identity: TaskIdentity, try_number: int) -> None:
        """Say in this try's log which try started the child (a full job) and that it goes on
        running."""
        earlier = dispatching_try(child, identity)
        by = f"try {earlier}" if earlier else "an earlier try"
        self.log.info(
            "Adopting %s: dispatched by %s of this task instance and still %s. That try ended "
            "(its worker died or it failed) while the batch went on running in Nomad; try %d "
            "follows the same batch to its end instead of running it a second time.",
            child["ID"],
            by,
            child.get("Status"),
            try_number,
        )


class NomadRunJobOperator(_FollowingJobOperator):
    """Run a whole (not parameterized) Nomad batch job in one task: register it, follow it to
    its end, stream its logs and report how it ended.

    **Job ID.** Each try registers the jobspec under an ID derived from the task instance::

        <jobspec ID>-af-<key>-try<try number>

    where ``<key>`` is the task instance's identity key (a hash of ``dag_id``, ``task_id``,
    ``run_id`` and ``map_index``; :class:`~airflow_provider_nomad.nomad.identity.TaskIdentity`).
    The job's ``Name`` stays the jobspec's, and its meta names the DAG, task, run and try
    (``airflow_*`` keys). So the same jobspec runs side by side for different DAG runs, and:

    - a later try (after a worker died, or a retry) finds the job an earlier try left pending
      or running and adopts it, instead of registering the batch a second time;
    - a job this very try already registered is never registered again (its outcome is
      reported); a job that an earlier try ran to success is adopted instead of run again when
      ``adopt_succeeded_job`` is on or a ``result_file`` is set;
    - a task instance that was cleared while its job ran stops that job, waits for its end and
      runs the batch anew.

    All arguments are checked before anything is registered; bad ones fail the task with
    :class:`~airflow_provider_nomad.exceptions.NomadInvalidInputError` naming the fix. A failed
    job raises :class:`~airflow_provider_nomad.exceptions.NomadJobFailedError` (exit code,
    signal, OOM, last lines of stderr) or
    :class:`~airflow_provider_nomad.exceptions.NomadPlacementError`.

    :param job: the job as a dict (Nomad's JSON ``Job``), HCL text, or the path of a ``.hcl``
        / ``.nomad`` / ``.json`` file, read as ``NomadRegisterJobOperator`` reads it. It must
        be of type ``batch`` (or ``sysbatch``), neither parameterized nor periodic. (templated)
    :param meta: merged into the job's meta (over the jobspec's own values): how a static
        jobspec gets this run's values (business date, account range...), which its tasks read
        as ``NOMAD_META_<key>``. Every value must be a string. (templated)
    :param namespace: Nomad namespace; overrides the connection's. (templated)
    :param region: Nomad region; overrides the connection's.
    :param nomad_conn_id: connection of type ``nomad``.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :param stream_logs: stream the job's stdout/stderr into the task log while it runs.
    :param result_file: path of a JSON file the batch writes, relative to the allocation
        directory (``alloc/result.json`` is ``$NOMAD_ALLOC_DIR/result.json``); read back
        through Nomad's fs API and returned under ``"result"``. (templated)
    :param adopt_succeeded_job: for batches that must run at most once per task instance: a
        job that an earlier try ran to success is adopted (its outcome reported again) instead
        of running the batch again, by a retry and by a try after a clear alike (purge the job
        to run the batch again). Off by default: a retry runs the batch anew once the earlier
        try's job has ended.
    :param purge_on_success: purge the job from Nomad once it succeeded (and its result file
        was read). Off by default: the job stays in the Nomad UI, where the task's link points,
        until Nomad's own garbage collection removes it (``job_gc_threshold``, 4 hours by
        default); a purged job can no longer be adopted by a later clear or retry. The purge
        comes before Airflow records the task's success: a worker that dies in between
        leaves its retry nothing to adopt, and the batch runs again.
    :param stop_on_failure: stop the job when it failed (on by default), so that nothing of it
        is rescheduled or placed later, with nobody watching. A job that could not be placed
        or whose allocation was lost is stopped whatever this says: capacity freed later would
        run it after the task reported it failed. Stopping keeps the job's allocations and
        logs for inspection.
    """

    template_fields: Sequence[str] = ("job", "meta", "namespace", "result_file")
    template_fields_renderers = {"job": "json", "meta": "json"}
    operator_extra_links = (NomadJobLink(),)

    def __init__(
        self,
        *,
        job: Mapping[str, Any] | str,
        meta: Mapping[str, str] | None = None,
        namespace: str | None = None,
        region: str | None = None,
        nomad_conn_id: str = NomadHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        stream_logs: bool = True,
        result_file: str | None = None,
        adopt_succeeded_job: bool = False,
        purge_on_success: bool = False,
        stop_on_failure: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            namespace=namespace,
            region=region,
            nomad_conn_id=nomad_conn_id,
            deferrable=deferrable,
            stream_logs=stream_logs,
            result_file=result_file,
            **kwargs,
        )
        self.job = job
        self.meta = meta
        self.adopt_succeeded_job = adopt_succeeded_job
        self.purge_on_success = purge_on_success
        self.stop_on_failure = stop_on_failure

    def execute(self, context: Context) -> dict[str, Any]:
        result_file = check_result_file(self.result_file)
        meta = normalize_meta(self.meta)
        spec = self._job_spec(context)
        base_id = check_runnable(spec)
        if meta:
            spec = {**spec, "Meta": {**(spec.get("Meta") or {}), **meta}}
        check_result_file_in_job(spec, result_file)

        ti = context["ti"]
        identity = TaskIdentity(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
        job_id, eval_id, adopted = self._adopt_or_register(
            spec,
            base_id,
            identity,
            ti.try_number,
            cleared=cleared_before_this_try(ti, self.retries),
        )
        self._announce(ti, job_id, awaited=adopted not in ("succeeded", "ended"))

        if adopted in ("succeeded", "ended"):
            outcome = self._current_outcome(job_id)
            assert outcome is not None  # adopted only after it was seen ended
            return self._finish(context, outcome, adopted=adopted)
        return self._await(context, job_id, eval_id, adopted)

    def _job_spec(self, context: Context) -> dict[str, Any]:
        """The jobspec as Nomad's JSON job (a hook for subclasses that build it)."""
        return load_job(self.job, self.hook.parse_jobspec)

    def _adopt_or_register(
        self,
        spec: dict[str, Any],
        base_id: str,
        identity: TaskIdentity,
        try_number: int,
        *,
        cleared: bool,
    ) -> tuple[str, str | None, str | None]:
        """Return ``(job ID, register eval ID or None, how it was adopted or None)``.

        :param cleared: this try exists because the task instance was cleared: a live job of
            an earlier try is stopped and waited for instead of adopted.
        """
        self._created_index = None
        jobs = self.hook.list_jobs(prefix=run_job_prefix(base_id, identity), meta=True)
        since_try = _first_try_since_the_last_clear(jobs)
        live = [j for j in jobs if j.get("Status") in JobStatus.LIVE and not j.get("Stop")]
        newest_live = max(live, key=lambda j: j.get("CreateIndex", 0), default=None)
        # The newest live job is older than a cleared try's: neither that try nor the earlier
        # try's own stop ended it.
        from_before_the_clear = (
            newest_live is not None and (registering_try(newest_live["ID"]) or 0) < since_try
        )
        own_id = run_job_id(base_id, identity, try_number)
        if live and (cleared or from_before_the_clear):
            # The job this very try registered (the try runs again) is its batch: kept.
            self._retire_cleared_children([j for j in live if j["ID"] != own_id])
            live = [j for j in live if j["ID"] == own_id]
        if live:
            job = max(live, key=lambda j: j.get("CreateIndex", 0))
            earlier = registering_try(job["ID"])
            self.log.info(
                "Adopting %s: registered by %s of this task instance and still %s. That try "
                "ended (its worker died or it failed) while the batch went on running in "
                "Nomad; try %d follows the same batch to its end instead of running it a "
                "second time.",
                job["ID"],
                f"try {earlier}" if earlier else "an earlier try",
                job.get("Status"),
                try_number,
            )
            Stats.incr("nomad.run.adopted")
            return job["ID"], None, "running"
        # Before this very try's ended job is looked at: a stopped one may still be running.
        self._wait_until_stopped_jobs_ended(jobs)
        if any(j["ID"] == own_id for j in jobs) and self._current_outcome(own_id) is not None:
            # This very try registered the job already and it ended (the try's execution was
            # interrupted after that): report that end, never run the batch twice in one try.
            self.log.info("%s was registered by this try and has ended; reporting its end", own_id)
            return own_id, None, "ended"
        if self.adopt_succeeded_job or (self.result_file is not None and not cleared):
            candidates = jobs
            if not self.adopt_succeeded_job:
                # Reading a result again, not keeping a batch from ever running twice: a
                # result from before a clear is not this run's.
                candidates = [j for j in jobs if (registering_try(j["ID"]) or 0) >= since_try]
            succeeded = self._newest_succeeded(candidates)
            if succeeded is not None:
                self.log.info(
                    "Adopting %s: an earlier try ran it to success, so the batch is not run again",
                    succeeded,
                )
                Stats.incr("nomad.run.adopted")
                return succeeded, None, "succeeded"
        new_id = not any(j["ID"] == own_id for j in jobs)
        response = self.hook.register_job(job_for_try(spec, identity, try_number, cleared=cleared))
        Stats.incr("nomad.run")
        eval_id = response.get("EvalID") or None
        if new_id and eval_id:
            # A new job ID: the job and its evaluation were written at once. A job registered
            # again under an ID Nomad still knows has allocations older than that evaluation.
            self._created_index = _eval_create_index(response)
        self.log.info("Registered %s (evaluation %s)", own_id, eval_id or "-")
        return own_id, eval_id, None

    def _finish(self, context: Context, outcome: JobOutcome, adopted: str | None) -> dict[str, Any]:
        if (
            not outcome.succeeded
            and self.stop_on_failure
            # The base class stops these itself, whatever stop_on_failure says.
            and outcome.result not in (JobResult.PLACEMENT_FAILED, JobResult.LOST)
        ):
            self._stop_child(
                outcome.job_id, reason=f"reported {outcome.result.value}; stop_on_failure is on"
            )
        result = super()._finish(context, outcome, adopted=adopted)
        if self.purge_on_success:
            self.log.info("Purging Nomad job %s (purge_on_success)", outcome.job_id)
            try:
                self.hook.stop_job(outcome.job_id, purge=True)
            except NomadApiError as exc:
                # The batch succeeded: a job left for Nomad's GC is no reason to fail it.
                self.log.warning("Could not purge Nomad job %s: %s", outcome.job_id, exc)
        return result


class NomadRegisterJobOperator(_NomadOperator):
    """Register (create or update) a Nomad job from a dict, HCL text or a jobspec file.

    HCL is parsed by the Nomad server (``/v1/jobs/parse``), so the jobspec means exactly what
    ``nomad job run`` would make of it. Registering an unchanged job changes nothing.

    :param job: the job as a dict (Nomad's JSON ``Job``), HCL text, or the path of a ``.hcl``
        / ``.nomad`` / ``.json`` file. (templated)
    :param namespace: Nomad namespace; overrides the connection's. (templated)
    :param nomad_conn_id: connection of type ``nomad``.
    """

    template_fields: Sequence[str] = ("job", "namespace")
    template_fields_renderers = {"job": "json"}

    def __init__(
        self,
        *,
        job: Mapping[str, Any] | str,
        namespace: str | None = None,
        region: str | None = None,
        nomad_conn_id: str = NomadHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(namespace=namespace, region=region, nomad_conn_id=nomad_conn_id, **kwargs)
        self.job = job

    def execute(self, context: Context) -> dict[str, Any]:
        job = self._job_dict()
        response = self.hook.register_job(job)
        self.log.info(
            "Registered Nomad job %s (modify index %s)",
            job.get("ID"),
            response.get("JobModifyIndex"),
        )
        return {"job_id": job.get("ID"), "job_modify_index": response.get("JobModifyIndex")}

    def _job_dict(self) -> dict[str, Any]:
        return load_job(self.job, self.hook.parse_jobspec)


class NomadStopJobOperator(_NomadOperator):
    """Stop a Nomad job (for a dispatched child, only that child; its parent keeps running).

    :param job_id: ID of the job to stop. (templated)
    :param purge: remove the job at once instead of leaving it ``dead`` until garbage
        collection.
    :param namespace: Nomad namespace; overrides the connection's. (templated)
    :param nomad_conn_id: connection of type ``nomad``.
    """

    template_fields: Sequence[str] = ("job_id", "namespace")

    def __init__(
        self,
        *,
        job_id: str,
        purge: bool = False,
        namespace: str | None = None,
        region: str | None = None,
        nomad_conn_id: str = NomadHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(namespace=namespace, region=region, nomad_conn_id=nomad_conn_id, **kwargs)
        self.job_id = job_id
        self.purge = purge

    def execute(self, context: Context) -> dict[str, Any]:
        response = self.hook.stop_job(self.job_id, purge=self.purge)
        self.log.info("Stopped Nomad job %s%s", self.job_id, " (purged)" if self.purge else "")
        return {"job_id": self.job_id, "eval_id": response.get("EvalID"), "purged": self.purge}
