"""One blocking query per runner job watches every running child of the executor.

``GET /v1/jobs?prefix=<runner>/dispatch-af-&index=N&wait=W`` returns as soon as any child's job
or summary changes, so the end of any task is seen at once while the number of requests does
not grow with the number of running tasks or heartbeats. Only a child whose stub changed to
``pending`` or ``dead`` is read further (its allocations and evaluations, then
:func:`~airflow_provider_nomad.nomad.outcome.assess`), a handful of reads over its whole life.

The loop runs in a daemon thread: the scheduler's ``sync()`` only drains what it reported.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_nomad.blocking import BlockingPacer, next_index
from airflow_provider_nomad.exceptions import NomadProviderError
from airflow_provider_nomad.nomad.job_state import read_job_state
from airflow_provider_nomad.nomad.outcome import JobOutcome, JobResult, assess
from airflow_provider_nomad.nomad.states import JobStatus, TaskEventType

if TYPE_CHECKING:
    from airflow_provider_nomad.hooks.nomad import NomadHook

log = logging.getLogger(__name__)

#: Wait of the watch while an evaluation it depends on is still pending: an evaluation's end
#: does not always move the jobs' index (a blocked evaluation leaves the summary as it was).
RECHECK_WAIT = 1.0
#: Pause after a failed watch request before the next (the hook already retried transients).
ERROR_PAUSE = 2.0


def children_prefix(runner_job_id: str) -> str:
    """The prefix of every child the executor dispatches from ``runner_job_id``."""
    return f"{runner_job_id}/dispatch-af-"


@dataclass
class WatchedChild:
    """A child job the executor waits for.

    :param job_id: the child's ID.
    :param eval_id: the evaluation its dispatch created (``None`` when adopted).
    :param create_index: the child's ``CreateIndex``: a list answer at or past this index that
        lacks the child means the child is gone (purged or garbage-collected).
    """

    job_id: str
    eval_id: str | None
    create_index: int


def assess_child(
    hook: NomadHook, child: WatchedChild, stopped: bool = False
) -> tuple[JobOutcome | None, bool]:
    """The child's outcome if it ended, and whether an evaluation it waits on is pending.

    :param stopped: the child job was stopped (``Stop: true``): someone stopped the try from
        outside, so it did not run to its end, whatever exit code the kill left.
    """
    allocs, job_evals = read_job_state(hook, child.job_id)
    evals = {e["ID"]: e for e in job_evals}
    eval_id = child.eval_id
    if not eval_id and evals:
        # Adopted: the dispatch's evaluation is the child's first.
        eval_id = min(evals.values(), key=lambda e: e.get("CreateIndex", 0))["ID"]
    assessment = assess(child.job_id, allocs, evals, dispatch_eval_id=eval_id)
    outcome = assessment.outcome
    if outcome is not None and outcome.succeeded and stopped:
        outcome = replace(
            outcome,
            result=JobResult.STOPPED,
            reason=f"the Nomad job was stopped before its task ran to its end ({outcome.reason})",
        )
    if outcome is not None and not outcome.succeeded:
        outcome = _with_start_failures(outcome, allocs)
    return outcome, bool(assessment.watch_evals)


_START_FAILURES = (TaskEventType.DRIVER_FAILURE, TaskEventType.SETUP_FAILURE)


def _with_start_failures(outcome: JobOutcome, allocs: list[dict[str, Any]]) -> JobOutcome:
    """The outcome, its reason naming why a task never started (driver or setup failure).

    The last event of such a task is "Not Restarting", whose message says nothing of the
    cause; the platform team needs the driver's own words (an image that cannot be pulled).
    """
    final = set(outcome.final_alloc_ids)
    causes = []
    for alloc in allocs:
        if alloc.get("ID") not in final:
            continue
        for task, state in sorted((alloc.get("TaskStates") or {}).items()):
            for event in state.get("Events") or []:
                if event.get("Type") in _START_FAILURES:
                    message = event.get("DisplayMessage") or (event.get("Details") or {}).get(
                        "driver_error", ""
                    )
                    cause = f'task "{task}" failed before starting: {event["Type"]}: {message}'
                    if message and message not in outcome.reason and cause not in causes:
                        causes.append(cause)
    if not causes:
        return outcome
    return replace(outcome, reason=f"{outcome.reason} ({'; '.join(causes)})")


class ChildWatch:
    """Watches the children of one runner job and reports each one's end once.

    :param hook: a hook for this watch's thread alone.
    :param runner_job_id: the parameterized runner job.
    :param wait: longest wait of a blocking query, in seconds.
    :param report: called (from the watch's thread) with ``(job_id, outcome)`` when a child
        ended; the child is no longer watched then.
    :param on_error: called with a failed request's error (already safe to log).
    """

    def __init__(
        self,
        hook: NomadHook,
        runner_job_id: str,
        wait: float,
        report: Callable[[str, JobOutcome], None],
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.hook = hook
        self.runner_job_id = runner_job_id
        self.prefix = children_prefix(runner_job_id)
        self.wait = wait
        self._report = report
        self._on_error = on_error or (lambda exc: log.warning("Nomad watch: %s", exc))
        self._children: dict[str, WatchedChild] = {}
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._recheck: set[str] = set()
        #: Dispatches on their way whose child is not tracked yet.
        self._expecting = 0
        #: Tracked children no answer has shown yet.
        self._unconfirmed: set[str] = set()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(
            target=self._run, name=f"nomad-executor-watch-{runner_job_id}", daemon=True
        )
        #: Watch requests sent (lists), for tests and metrics.
        self.queries = 0
        #: The index of the last answer examined.
        self.index = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching; a blocking query in flight is abandoned (the thread is a daemon)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def expect(self) -> None:
        """A dispatch to this runner is on its way.

        Its child's creation wakes the query in flight, but the child is tracked only once the
        scheduler's next heartbeat applied the dispatch, after that answer was examined. Until
        an answer shows the tracked child, queries wait :data:`RECHECK_WAIT` only: a child that
        ran or ended in between is seen a moment later, not one whole ``wait`` later.
        """
        with self._cond:
            self._expecting += 1

    def unexpect(self) -> None:
        """An expected dispatch failed or was revoked: no child to wait for."""
        with self._cond:
            self._expecting = max(0, self._expecting - 1)

    def track(self, child: WatchedChild, expected: bool = False) -> None:
        """Watch ``child``; ``expected``: it is the child of a dispatch :meth:`expect` announced."""
        with self._cond:
            if expected:
                self._expecting = max(0, self._expecting - 1)
            self._children[child.job_id] = child
            self._seen.pop(child.job_id, None)
            self._unconfirmed.add(child.job_id)
            self._cond.notify_all()

    def untrack(self, job_id: str) -> None:
        with self._cond:
            self._children.pop(job_id, None)
            self._seen.pop(job_id, None)
            self._recheck.discard(job_id)
            self._unconfirmed.discard(job_id)

    def watching(self) -> list[str]:
        with self._cond:
            return sorted(self._children)

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        index = 0
        pacer = BlockingPacer()
        while True:
            with self._cond:
                # Idle without a request while nothing runs.
                while not self._children and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                briefly = self._recheck or self._unconfirmed or self._expecting
                wait = RECHECK_WAIT if briefly else self.wait
            try:
                pacer.sending(index)
                self.queries += 1
                stubs, answered = self.hook.list_jobs_blocking(
                    self.prefix, index=index, wait=wait, meta=False
                )
                pacer.answered(answered)
                self._examine(stubs, answered)
                self.index = answered
                index = next_index(index, answered)
            except NomadProviderError as exc:
                self._on_error(exc)
                with self._cond:
                    self._cond.wait(ERROR_PAUSE)
                continue
            except Exception:
                # A bug (or an answer of a shape not foreseen) must not end the watch of every
                # running task: it is logged and the watch goes on from a plain read.
                log.exception("Watching children of Nomad job %r failed", self.runner_job_id)
                index = 0
                with self._cond:
                    self._cond.wait(ERROR_PAUSE)
                continue
            delay = pacer.delay()
            if delay:
                with self._cond:
                    self._cond.wait(delay)

    def _examine(self, stubs: list[dict[str, Any]], answered: int) -> None:
        by_id = {stub.get("ID"): stub for stub in stubs}
        with self._cond:
            children = list(self._children.values())
            recheck = set(self._recheck)
        for child in children:
            stub = by_id.get(child.job_id)
            if stub is not None:
                with self._cond:
                    self._unconfirmed.discard(child.job_id)
            if stub is None:
                if answered >= child.create_index:
                    self._ended(
                        child.job_id,
                        JobOutcome(
                            JobResult.LOST,
                            child.job_id,
                            f"Nomad job {child.job_id} no longer exists (purged or "
                            "garbage-collected) before its end was seen",
                        ),
                    )
                continue
            status = stub.get("Status")
            signature = (
                status,
                stub.get("ModifyIndex"),
                (stub.get("JobSummary") or {}).get("ModifyIndex"),
            )
            if self._seen.get(child.job_id) == signature and child.job_id not in recheck:
                continue
            self._seen[child.job_id] = signature
            if status == JobStatus.RUNNING:
                with self._cond:
                    self._recheck.discard(child.job_id)
                continue
            outcome, pending_eval = assess_child(self.hook, child, bool(stub.get("Stop")))
            with self._cond:
                if pending_eval and outcome is None:
                    self._recheck.add(child.job_id)
                else:
                    self._recheck.discard(child.job_id)
            if outcome is not None:
                self._ended(child.job_id, outcome)

    def _ended(self, job_id: str, outcome: JobOutcome) -> None:
        with self._cond:
            if self._children.pop(job_id, None) is None:
                return  # untracked meanwhile (revoked)
            self._seen.pop(job_id, None)
            self._recheck.discard(job_id)
            self._unconfirmed.discard(job_id)
        self._report(job_id, outcome)
