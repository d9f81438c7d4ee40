"""How a job's end is read from its evaluations and allocations."""

from __future__ import annotations

import pytest

from airflow_provider_nomad.nomad.outcome import (
    JobOutcome,
    JobResult,
    assess,
    describe_placement_failure,
    latest_allocations,
)
from airflow_provider_nomad.nomad.states import UnknownStatusError

JOB = "settlement/dispatch-af-0123456789ab-1700000000-abcdef01"


def terminated(exit_code: int, signal: int = 0, oom: bool = False) -> dict:
    return {
        "Type": "Terminated",
        "ExitCode": exit_code,
        "Signal": signal,
        "DisplayMessage": f"Exit Code: {exit_code}" + (f", Signal: {signal}" if signal else ""),
        "Details": {
            "exit_code": str(exit_code),
            "signal": str(signal),
            "oom_killed": "true" if oom else "false",
        },
    }


def task(state="dead", failed=False, events=(), restarts=0) -> dict:
    return {
        "State": state,
        "Failed": failed,
        "Restarts": restarts,
        "StartedAt": "2026-11-25T00:00:00Z",
        "Events": [{"Type": "Started"}, *events],
    }


def alloc(alloc_id, status, tasks=None, index=10, **extra) -> dict:
    return {
        "ID": alloc_id,
        "ClientStatus": status,
        "DesiredStatus": extra.pop("desired", "run"),
        "TaskGroup": "batch",
        "CreateIndex": index,
        "TaskStates": tasks if tasks is not None else {},
        **extra,
    }


def test_success_needs_every_task_of_the_final_allocation_to_exit_zero():
    allocs = [alloc("a1", "complete", {"main": task(events=[terminated(0)])})]
    outcome = assess(JOB, allocs, {}).outcome
    assert outcome is not None and outcome.result is JobResult.SUCCEEDED
    assert outcome.exit_codes == {"a1/main": 0}


def test_exit_code_signal_and_oom_are_reported():
    allocs = [
        alloc(
            "a1",
            "failed",
            {"main": task(failed=True, events=[terminated(137, 9, oom=True)], restarts=2)},
        )
    ]
    outcome = assess(JOB, allocs, {}).outcome
    assert outcome.result is JobResult.FAILED
    [t] = outcome.tasks
    assert (t.exit_code, t.signal, t.oom_killed, t.restarts) == (137, 9, True, 2)
    assert "out of memory" in outcome.reason and "after 2 restart(s)" in outcome.reason


def test_running_allocation_is_not_done():
    allocs = [alloc("a1", "running", {"main": task(state="running")})]
    assert not assess(JOB, allocs, {}).done


def test_pending_reschedule_keeps_waiting_and_watches_the_followup_eval():
    allocs = [
        alloc(
            "a1",
            "failed",
            {"main": task(failed=True, events=[terminated(1)])},
            FollowupEvalID="e2",
        )
    ]
    assessment = assess(JOB, allocs, {"e2": {"ID": "e2", "Status": "pending"}})
    assert not assessment.done
    assert assessment.watch_evals == {"e2"}


def test_reschedule_chain_is_followed_to_the_final_allocation():
    allocs = [
        alloc(
            "a1",
            "failed",
            {"main": task(failed=True, events=[terminated(1)])},
            index=10,
            NextAllocation="a2",
            FollowupEvalID="e2",
        ),
        alloc("a2", "complete", {"main": task(events=[terminated(0)])}, index=20),
    ]
    assert [a["ID"] for a in latest_allocations(allocs)] == ["a2"]
    outcome = assess(JOB, allocs, {}).outcome
    assert outcome.result is JobResult.SUCCEEDED
    assert outcome.alloc_ids == ["a1", "a2"] and outcome.final_alloc_ids == ["a2"]


def test_reschedule_that_cannot_be_placed_is_a_placement_failure():
    allocs = [
        alloc(
            "a1",
            "lost",
            {"main": task(state="dead", failed=True)},
            FollowupEvalID="e2",
            ClientDescription="alloc is lost since its node is down",
        )
    ]
    evals = {
        "e2": {
            "ID": "e2",
            "Status": "complete",
            "FailedTGAllocs": {"batch": {"NodesEvaluated": 0, "NodesAvailable": {"dc1": 0}}},
        }
    }
    outcome = assess(JOB, allocs, evals).outcome
    assert outcome.result is JobResult.PLACEMENT_FAILED
    assert "no client node is available in dc1" in outcome.reason


def failure_eval(status: str, index: int = 11, **extra) -> dict:
    """The evaluation Nomad writes with a failed allocation it may reschedule."""
    return {
        "ID": "ev-fail",
        "JobID": JOB,
        "TriggeredBy": "alloc-failure",
        "Status": status,
        "CreateIndex": index,
        **extra,
    }


FAILED_ALLOC = alloc("a1", "failed", {"main": task(failed=True, events=[terminated(1)])}, JobID=JOB)


def test_a_failure_whose_reschedule_is_pending_keeps_waiting_and_watches_it():
    # Nomad has not named the replacement yet: only the evaluation says one is coming.
    assessment = assess(JOB, [FAILED_ALLOC], {"ev-fail": failure_eval("pending")})
    assert assessment.outcome is None
    assert assessment.watch_evals == {"ev-fail"}


def test_a_reschedule_that_could_not_be_placed_is_a_placement_failure():
    failed_tg = {"batch": {"NodesEvaluated": 1, "DimensionExhausted": {"memory": 1}}}
    evaluation = failure_eval("complete", FailedTGAllocs=failed_tg)
    outcome = assess(JOB, [FAILED_ALLOC], {"ev-fail": evaluation}).outcome
    assert outcome is not None and outcome.result is JobResult.PLACEMENT_FAILED
    assert "its reschedule could not be placed" in outcome.reason


@pytest.mark.parametrize(
    "evals",
    [
        {},  # Nomad wrote no evaluation: no reschedule attempt left
        {"ev-fail": failure_eval("complete")},  # processed, and it rescheduled nothing
        {"ev-fail": failure_eval("pending", index=5)},  # an earlier allocation's
    ],
    ids=["no-evaluation", "processed", "older-than-the-allocation"],
)
def test_a_failure_nothing_will_reschedule_is_the_end(evals):
    outcome = assess(JOB, [FAILED_ALLOC], evals).outcome
    assert outcome is not None and outcome.result is JobResult.FAILED


def test_a_pending_reschedule_of_one_of_two_allocations_is_waited_for():
    # Two allocations: b failed, was replaced by b2, which ended; then a failed, and its
    # evaluation is pending. b's completed evaluation is also newer than a's creation: the
    # pending one must still be waited for (evaluations name no allocation).
    allocs = [
        alloc("a", "failed", {"main": task(failed=True, events=[terminated(1)])}, JobID=JOB),
        alloc("b", "failed", {}, index=11, NextAllocation="b2", JobID=JOB),
        alloc("b2", "complete", {"main": task(events=[terminated(0)])}, index=21, JobID=JOB),
    ]
    evals = {
        "ev-b": failure_eval("complete", index=20) | {"ID": "ev-b"},
        "ev-a": failure_eval("pending", index=40) | {"ID": "ev-a"},
    }
    assessment = assess(JOB, allocs, evals)
    assert assessment.outcome is None
    assert assessment.watch_evals == {"ev-a"}


def test_lost_allocation_without_reschedule_is_reported_lost():
    allocs = [alloc("a1", "lost", {"main": task(failed=True)}, ClientDescription="node down")]
    outcome = assess(JOB, allocs, {}).outcome
    assert outcome.result is JobResult.LOST
    assert "node down" in outcome.reason


def test_blocked_dispatch_evaluation_fails_fast_naming_the_dimension():
    evals = {
        "e1": {
            "ID": "e1",
            "Status": "complete",
            "BlockedEval": "e9",
            "FailedTGAllocs": {
                "batch": {
                    "NodesEvaluated": 1,
                    "NodesExhausted": 1,
                    "DimensionExhausted": {"memory": 1},
                }
            },
        }
    }
    outcome = assess(JOB, [], evals, dispatch_eval_id="e1").outcome
    assert outcome.result is JobResult.PLACEMENT_FAILED
    assert outcome.reason == (
        'task group "batch" could not be placed: memory exhausted on 1 node(s)'
    )


def test_missing_driver_is_named():
    text = describe_placement_failure(
        {
            "batch": {
                "NodesEvaluated": 1,
                "NodesFiltered": 1,
                "ConstraintFiltered": {"missing drivers": 1},
            }
        }
    )
    assert (
        text
        == 'task group "batch" could not be placed: constraint "missing drivers" filtered 1 node(s)'
    )


def test_unknown_dispatch_eval_is_watched():
    assessment = assess(JOB, [], {}, dispatch_eval_id="e1")
    assert not assessment.done and assessment.watch_evals == {"e1"}


def test_stopped_job_is_reported_stopped():
    allocs = [
        alloc(
            "a1",
            "complete",
            {
                "main": task(
                    events=[
                        terminated(0, 15),
                        {"Type": "Killed", "DisplayMessage": "Task successfully killed"},
                    ]
                )
            },
            desired="stop",
            DesiredDescription="alloc not needed due to job update",
        )
    ]
    outcome = assess(JOB, allocs, {}).outcome
    assert outcome.result is JobResult.STOPPED


def test_a_stopped_batch_that_exits_zero_is_reported_stopped_not_succeeded():
    # A batch that handles the kill signal and exits cleanly was cut short all the same.
    allocs = [
        alloc(
            "a1",
            "complete",
            {"main": task(events=[terminated(0)])},
            desired="stop",
            DesiredDescription="alloc not needed as job is stopped",
        )
    ]
    outcome = assess(JOB, allocs, {}).outcome
    assert outcome.result is JobResult.STOPPED
    assert "exited 0 after the stop" in outcome.reason


def test_unknown_status_raises_instead_of_waiting_forever():
    with pytest.raises(UnknownStatusError, match="'paused'"):
        assess(JOB, [alloc("a1", "paused")], {})


def test_outcome_round_trips_through_a_dict():
    allocs = [alloc("a1", "failed", {"main": task(failed=True, events=[terminated(3)])})]
    outcome = assess(JOB, allocs, {}).outcome
    outcome.stderr_tail = ["boom"]
    assert JobOutcome.from_dict(outcome.to_dict()) == outcome
