"""A job's state read so that a failure being rescheduled is never taken as the end."""

from __future__ import annotations

from airflow_provider_nomad.nomad.job_state import read_job_state
from airflow_provider_nomad.nomad.outcome import assess

JOB = "settlement/dispatch-1700000000-abcdef01"


class ScriptedHook:
    """Answers each read with the next state of the job, as the cluster moves between reads."""

    def __init__(self, allocs: list[list[dict]], evals: list[list[dict]]) -> None:
        self._allocs, self._evals = list(allocs), list(evals)
        self.reads: list[str] = []

    def get_job_allocations(self, job_id: str) -> list[dict]:
        self.reads.append("allocations")
        return self._allocs.pop(0)

    def get_job_evaluations(self, job_id: str) -> list[dict]:
        self.reads.append("evaluations")
        return self._evals.pop(0)


def alloc(alloc_id: str, status: str, index: int, **extra) -> dict:
    return {"ID": alloc_id, "JobID": JOB, "ClientStatus": status, "CreateIndex": index, **extra}


DISPATCH = {"ID": "ev-1", "JobID": JOB, "Status": "complete", "CreateIndex": 9}
FAILURE = {"ID": "ev-2", "JobID": JOB, "TriggeredBy": "alloc-failure", "CreateIndex": 20}


def test_a_replacement_placed_between_the_reads_is_seen():
    # Read 1: the failure, nothing after it. Then the scheduler places the replacement and
    # completes the evaluation, which read 2 shows: without a third read the failure would look
    # final (its evaluation is complete, and these allocations name no replacement).
    hook = ScriptedHook(
        allocs=[
            [alloc("a1", "failed", 10)],
            [alloc("a1", "failed", 10, NextAllocation="a2"), alloc("a2", "running", 21)],
        ],
        evals=[[DISPATCH, {**FAILURE, "Status": "complete"}]],
    )
    allocs, evals = read_job_state(hook, JOB)
    assert hook.reads == ["allocations", "evaluations", "allocations"]
    assessment = assess(JOB, allocs, {e["ID"]: e for e in evals}, dispatch_eval_id="ev-1")
    assert assessment.outcome is None  # still running, as a2


def test_a_failure_between_the_reads_gets_its_evaluation_read():
    # The allocation failed after the evaluations were read: they are read again.
    hook = ScriptedHook(
        allocs=[
            [alloc("a1", "failed", 10)],
            [alloc("a1", "failed", 10, NextAllocation="a2"), alloc("a2", "failed", 21)],
            [alloc("a1", "failed", 10, NextAllocation="a2"), alloc("a2", "failed", 21)],
        ],
        evals=[
            [DISPATCH, {**FAILURE, "Status": "complete"}],
            [
                DISPATCH,
                {**FAILURE, "Status": "complete"},
                {**FAILURE, "ID": "ev-3", "Status": "pending", "CreateIndex": 30},
            ],
        ],
    )
    allocs, evals = read_job_state(hook, JOB)
    assert hook.reads == ["allocations", "evaluations", "allocations", "evaluations", "allocations"]
    assessment = assess(JOB, allocs, {e["ID"]: e for e in evals}, dispatch_eval_id="ev-1")
    assert assessment.outcome is None and assessment.watch_evals == {"ev-3"}


def test_a_batch_that_succeeded_costs_two_reads():
    hook = ScriptedHook(allocs=[[alloc("a1", "complete", 10)]], evals=[[DISPATCH]])
    read_job_state(hook, JOB)
    assert hook.reads == ["allocations", "evaluations"]
