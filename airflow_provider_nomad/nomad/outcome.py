"""Reading a dispatched job's end from its evaluations and allocations (pure, no I/O).

The same functions decide for the sync operator, the trigger and the sensor, so a job is never
"successful" on one path and "failed" on another. Nomad has no "failed" job status: success is
read from the final allocation of each chain (original -> rescheduled -> ...) and its tasks.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_nomad.nomad.states import (
    AllocClientStatus,
    EvalStatus,
    EvalTrigger,
    TaskEventType,
    TaskStateName,
    checked,
)


class JobResult(str, enum.Enum):
    """How a followed job ended (or why following it stopped)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PLACEMENT_FAILED = "placement_failed"
    LOST = "lost"
    STOPPED = "stopped"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class TaskOutcome:
    """How one task of one allocation ended."""

    alloc_id: str
    task: str
    state: str
    failed: bool
    exit_code: int | None
    signal: int | None
    oom_killed: bool
    restarts: int
    message: str

    @property
    def succeeded(self) -> bool:
        return (
            self.state == TaskStateName.DEAD
            and not self.failed
            and self.exit_code == 0
            and not self.signal
            and not self.oom_killed
        )

    def describe(self) -> str:
        parts = [f'task "{self.task}" of allocation {short_id(self.alloc_id)}']
        if self.oom_killed:
            parts.append("was killed for running out of memory (OOM)")
        elif self.exit_code is not None:
            parts.append(f"exited with code {self.exit_code}")
        else:
            parts.append("did not run to an exit code")
        if self.signal:
            parts.append(f"(signal {self.signal})")
        if self.restarts:
            parts.append(f"after {self.restarts} restart(s)")
        text = " ".join(parts)
        return f"{text}: {self.message}" if self.message else text


@dataclass
class JobOutcome:
    """The end of a dispatched job, as small and JSON-friendly as a trigger event needs."""

    result: JobResult
    job_id: str
    reason: str
    alloc_ids: list[str] = field(default_factory=list)
    final_alloc_ids: list[str] = field(default_factory=list)
    tasks: list[TaskOutcome] = field(default_factory=list)
    #: The last stderr lines of the tasks that failed, filled in by whoever streamed the logs.
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.result is JobResult.SUCCEEDED

    @property
    def exit_codes(self) -> dict[str, int | None]:
        """``"<alloc id>/<task>"`` to exit code, for the final allocations."""
        return {f"{t.alloc_id}/{t.task}": t.exit_code for t in self.tasks}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["result"] = self.result.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobOutcome:
        return cls(
            result=JobResult(data["result"]),
            job_id=data["job_id"],
            reason=data["reason"],
            alloc_ids=list(data.get("alloc_ids", [])),
            final_alloc_ids=list(data.get("final_alloc_ids", [])),
            tasks=[TaskOutcome(**t) for t in data.get("tasks", [])],
            stderr_tail=list(data.get("stderr_tail", [])),
        )


@dataclass(frozen=True)
class Assessment:
    """Where a job stands: finished (with its outcome) or which evaluations to watch meanwhile."""

    outcome: JobOutcome | None
    watch_evals: frozenset[str] = frozenset()

    @property
    def done(self) -> bool:
        return self.outcome is not None


def short_id(alloc_or_eval_id: str) -> str:
    return alloc_or_eval_id[:8]


def describe_placement_failure(failed_tg_allocs: Mapping[str, Mapping[str, Any]]) -> str:
    """Explain ``FailedTGAllocs`` the way ``nomad job status`` does, one task group at a time."""
    groups = []
    for group, metric in sorted(failed_tg_allocs.items()):
        reasons: list[str] = []
        evaluated = metric.get("NodesEvaluated") or 0
        available = metric.get("NodesAvailable") or {}
        if evaluated == 0 and not any(available.values()):
            dcs = ", ".join(sorted(available)) or "the job's datacenters"
            reasons.append(f"no client node is available in {dcs}")
        for constraint, count in sorted((metric.get("ConstraintFiltered") or {}).items()):
            reasons.append(f'constraint "{constraint}" filtered {count} node(s)')
        for node_class, count in sorted((metric.get("ClassFiltered") or {}).items()):
            reasons.append(f'node class "{node_class}" filtered {count} node(s)')
        for dimension, count in sorted((metric.get("DimensionExhausted") or {}).items()):
            reasons.append(f"{dimension} exhausted on {count} node(s)")
        for quota in metric.get("QuotaExhausted") or []:
            reasons.append(f"quota exhausted: {quota}")
        if not reasons and metric.get("NodesExhausted"):
            reasons.append(f"resources exhausted on {metric['NodesExhausted']} node(s)")
        if not reasons:
            reasons.append(f"no node could place it ({evaluated} evaluated)")
        groups.append(f'task group "{group}" could not be placed: ' + "; ".join(reasons))
    return ". ".join(groups)


def task_outcome(alloc_id: str, task: str, state: Mapping[str, Any]) -> TaskOutcome:
    """Read a task's exit code, signal and OOM flag from its state and last events."""
    name = checked(state.get("State"), TaskStateName.ALL, "task")
    events = state.get("Events") or []
    exit_code: int | None = None
    signal: int | None = None
    oom = False
    message = ""
    for event in events:
        kind = event.get("Type")
        details = event.get("Details") or {}
        if kind == TaskEventType.TERMINATED:
            exit_code = _int(details.get("exit_code"), event.get("ExitCode"))
            signal = _int(details.get("signal"), event.get("Signal")) or None
            oom = str(details.get("oom_killed", "")).lower() == "true"
        if kind in _EXPLAINING_EVENTS:
            message = event.get("DisplayMessage") or details.get("driver_error") or kind
    return TaskOutcome(
        alloc_id=alloc_id,
        task=task,
        state=name,
        failed=bool(state.get("Failed")),
        exit_code=exit_code,
        signal=signal,
        oom_killed=oom,
        restarts=int(state.get("Restarts") or 0),
        message=message,
    )


_EXPLAINING_EVENTS = frozenset(
    {
        TaskEventType.TERMINATED,
        TaskEventType.NOT_RESTARTING,
        TaskEventType.KILLED,
        TaskEventType.DRIVER_FAILURE,
        TaskEventType.SETUP_FAILURE,
        TaskEventType.SIBLING_FAILED,
    }
)


def _int(*candidates: Any) -> int | None:
    for value in candidates:
        if value is None or value == "":
            continue
        try:
            return int(value)
        except (TypeError, ValueError):
            continue
    return None


def latest_allocations(allocs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The last allocation of every reschedule chain, oldest first.

    An allocation is superseded once Nomad names its replacement in ``NextAllocation`` (list
    stubs carry it) or once another allocation names it as ``PreviousAllocation`` (full objects).
    """
    allocs = list(allocs)
    replaced = {a["ID"] for a in allocs if a.get("NextAllocation")}
    replaced |= {a["PreviousAllocation"] for a in allocs if a.get("PreviousAllocation")}
    return sorted(
        (a for a in allocs if a["ID"] not in replaced), key=lambda a: a.get("CreateIndex", 0)
    )


def assess(
    job_id: str,
    allocs: Iterable[Mapping[str, Any]],
    evals: Mapping[str, Mapping[str, Any]],
    *,
    dispatch_eval_id: str | None = None,
) -> Assessment:
    """Decide whether a batch job has ended, and how.

    :param allocs: the job's allocations (list stubs are enough).
    :param evals: evaluations read so far, by ID (the dispatch evaluation and reschedule
        follow-ups); an evaluation the decision depends on but that is missing here is returned
        in ``watch_evals``.
    :param dispatch_eval_id: the evaluation the dispatch created, when known.
    """
    allocs = sorted(allocs, key=lambda a: a.get("CreateIndex", 0))
    all_ids = [a["ID"] for a in allocs]

    def finished(result: JobResult, reason: str, final=(), tasks=()) -> Assessment:
        outcome = JobOutcome(
            result=result,
            job_id=job_id,
            reason=reason,
            alloc_ids=all_ids,
            final_alloc_ids=[a["ID"] for a in final],
            tasks=list(tasks),
        )
        return Assessment(outcome=outcome)

    if not allocs:
        if not dispatch_eval_id:
            return Assessment(outcome=None)
        evaluation = evals.get(dispatch_eval_id)
        if evaluation is None:
            return Assessment(outcome=None, watch_evals=frozenset({dispatch_eval_id}))
        status = checked(evaluation.get("Status"), EvalStatus.ALL, "evaluation")
        if evaluation.get("FailedTGAllocs"):
            return finished(
                JobResult.PLACEMENT_FAILED,
                describe_placement_failure(evaluation["FailedTGAllocs"]),
            )
        if status in (EvalStatus.FAILED, EvalStatus.CANCELED):
            detail = evaluation.get("StatusDescription") or status
            return finished(JobResult.FAILED, f"evaluation {short_id(dispatch_eval_id)}: {detail}")
        watch = frozenset() if status == EvalStatus.COMPLETE else frozenset({dispatch_eval_id})
        return Assessment(outcome=None, watch_evals=watch)

    latest = latest_allocations(allocs)
    watch: set[str] = set()
    waiting = False
    for alloc in latest:
        status = checked(alloc.get("ClientStatus"), AllocClientStatus.ALL, "allocation client")
        if status not in AllocClientStatus.TERMINAL:
            waiting = True
            continue
        followup = alloc.get("FollowupEvalID")
        if status in (AllocClientStatus.FAILED, AllocClientStatus.LOST) and followup:
            evaluation = evals.get(followup)
            if evaluation is None or evaluation.get("Status") not in EvalStatus.TERMINAL:
                # A reschedule is pending (WaitUntil): the chain is not over yet.
                waiting = True
                watch.add(followup)
                continue
            if evaluation.get("FailedTGAllocs"):
                return finished(
                    JobResult.PLACEMENT_FAILED,
                    f"allocation {short_id(alloc['ID'])} {status} and its reschedule failed: "
                    + describe_placement_failure(evaluation["FailedTGAllocs"]),
                    final=latest,
                    tasks=_tasks_of(latest),
                )
            # The follow-up placed a replacement we have not seen in the list yet.
            waiting = True
            continue
        if status == AllocClientStatus.FAILED:
            reschedules = _reschedules_since(alloc, evals)
            pending = [e for e in reschedules if e.get("Status") not in EvalStatus.TERMINAL]
            unplaced = [e for e in reschedules if e.get("FailedTGAllocs")]
            if pending:
                waiting = True
                watch.update(e["ID"] for e in pending)
            elif unplaced:
                return finished(
                    JobResult.PLACEMENT_FAILED,
                    f"allocation {short_id(alloc['ID'])} failed and its reschedule could not "
                    "be placed: " + describe_placement_failure(unplaced[-1]["FailedTGAllocs"]),
                    final=latest,
                    tasks=_tasks_of(latest),
                )
    if waiting:
        return Assessment(outcome=None, watch_evals=frozenset(watch))
    return _ended(job_id, all_ids, latest)


def failed_without_followup(allocs: Iterable[Mapping[str, Any]]) -> set[str]:
    """Failed final allocations that name neither a replacement nor a follow-up evaluation.

    Nomad may still reschedule one: :func:`assess` can only tell from evaluations read *after*
    the failure, and allocations read after those (:func:`_reschedules_since`).
    """
    return {
        a["ID"]
        for a in latest_allocations(allocs)
        if a.get("ClientStatus") == AllocClientStatus.FAILED and not a.get("FollowupEvalID")
    }


def _reschedules_since(
    alloc: Mapping[str, Any], evals: Mapping[str, Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The ``alloc-failure`` evaluations read that may reschedule a failed allocation, oldest first.

    Nomad writes one together with the failure when the reschedule policy allows another
    attempt (``Node.UpdateAlloc``); only its processing, later, names the replacement
    (``NextAllocation``) or the delayed follow-up (``FollowupEvalID``). Until then the failed
    allocation looks final, for as long as the evaluation waits for a scheduler. Which one is
    this allocation's cannot be told (they name no allocation, and delayed follow-ups carry the
    same trigger), so every one created since the allocation counts: while any of them is
    pending, another allocation of the job may still be placed.
    """
    created_after = alloc.get("CreateIndex", 0)
    return sorted(
        (
            e
            for e in evals.values()
            if e.get("TriggeredBy") == EvalTrigger.ALLOC_FAILURE
            and e.get("JobID", alloc.get("JobID")) == alloc.get("JobID")
            and e.get("CreateIndex", 0) > created_after
        ),
        key=lambda e: e.get("CreateIndex", 0),
    )


def _tasks_of(allocs: Iterable[Mapping[str, Any]]) -> list[TaskOutcome]:
    return [
        task_outcome(a["ID"], task, state)
        for a in allocs
        for task, state in sorted((a.get("TaskStates") or {}).items())
    ]


def _ended(job_id: str, all_ids: list[str], latest: list[Mapping[str, Any]]) -> Assessment:
    tasks = _tasks_of(latest)
    final_ids = [a["ID"] for a in latest]

    def outcome(result: JobResult, reason: str) -> Assessment:
        return Assessment(outcome=JobOutcome(result, job_id, reason, all_ids, final_ids, tasks))

    lost = [a for a in latest if a["ClientStatus"] == AllocClientStatus.LOST]
    if lost:
        alloc = lost[0]
        detail = alloc.get("ClientDescription") or "its client node went down"
        return outcome(
            JobResult.LOST,
            f"allocation {short_id(alloc['ID'])} was lost ({detail}) and Nomad did not "
            "reschedule it (reschedule attempts exhausted or disabled)",
        )
    # Nomad marks only allocations still running (as far as it knows) to stop: a task that
    # exited 0 after that (a batch that handles the kill signal and exits cleanly) was cut
    # short, not finished, whatever its exit code says.
    stopped = [a for a in latest if a.get("DesiredStatus") in ("stop", "evict")]
    failing = [t for t in tasks if not t.succeeded]
    if stopped and all(a["ClientStatus"] != AllocClientStatus.FAILED for a in latest):
        alloc = stopped[0]
        detail = alloc.get("DesiredDescription") or "the job was stopped"
        exited = " (its tasks exited 0 after the stop)" if tasks and not failing else ""
        return outcome(
            JobResult.STOPPED,
            f"allocation {short_id(alloc['ID'])} was stopped: {detail}{exited}",
        )
    if not failing and tasks:
        return outcome(JobResult.SUCCEEDED, "every task of the final allocation(s) exited 0")
    if not tasks:
        alloc = latest[0]
        detail = alloc.get("ClientDescription") or alloc["ClientStatus"]
        return outcome(JobResult.FAILED, f"allocation {short_id(alloc['ID'])}: {detail}")
    return outcome(JobResult.FAILED, "; ".join(t.describe() for t in failing))
