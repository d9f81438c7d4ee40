"""Restart and reschedule policies, applied the way Nomad applies them to batch jobs."""

from __future__ import annotations

import re
import sys

import pytest
from emulator_testlib import (
    MS,
    SECOND,
    batch_job,
    event_types,
    mock_task,
    no_reschedule,
    no_restart,
    sh_task,
    unique,
)


def restart_policy(attempts: int, delay_ms: int = 100) -> dict:
    return {"Attempts": attempts, "Delay": delay_ms * MS, "Interval": 10 * SECOND, "Mode": "fail"}


def reschedule_policy(attempts: int, delay_ms: int = 100) -> dict:
    return {
        "Attempts": attempts,
        "Interval": 3600 * SECOND,
        "Delay": delay_ms * MS,
        "DelayFunction": "constant",
        "Unlimited": False,
    }


def test_a_failing_task_restarts_in_place_then_fails(emu):
    job_id = unique("restart")
    task = mock_task("t", run_for="10ms", exit_code=1)
    emu.register(batch_job(job_id, [task], restart=restart_policy(2), reschedule=no_reschedule()))
    [stub] = emu.final_allocs(job_id)
    alloc = emu.get(f"/v1/allocation/{stub['ID']}").json()
    state = alloc["TaskStates"]["t"]
    assert (state["State"], state["Failed"], state["Restarts"]) == ("dead", True, 2)
    # Eleven events happened; only the last ten are kept (Received fell off).
    assert event_types(alloc, "t") == [
        "Task Setup",
        "Started",
        "Terminated",
        "Restarting",
        "Started",
        "Terminated",
        "Restarting",
        "Started",
        "Terminated",
        "Not Restarting",
    ]
    events = state["Events"]
    assert events[2]["DisplayMessage"] == "Exit Code: 1"
    assert events[2]["Details"]["exit_code"] == "1"
    assert re.fullmatch(r"Task restarting in 1[0-2]\d(\.\d+)?ms", events[3]["DisplayMessage"])
    assert 100 * MS <= events[3]["StartDelay"] <= 125 * MS
    assert events[3]["Details"]["restart_reason"] == "Restart within policy"
    not_restarting = events[-1]
    assert not_restarting["DisplayMessage"] == (
        'Exceeded allowed attempts 2 in interval 10s and mode is "fail"'
    )
    assert not_restarting["FailsTask"] is True and not_restarting["Details"]["fails_task"] == "true"
    assert (alloc["ClientStatus"], alloc["ClientDescription"]) == ("failed", "Failed tasks")
    assert emu.get(f"/v1/job/{job_id}").json()["Status"] == "dead"


def test_restarts_append_to_the_same_log_files(api):
    job_id = unique("relog")
    task = sh_task("t", "echo run; exit 3")
    api.register(batch_job(job_id, [task], restart=restart_policy(1), reschedule=no_reschedule()))
    [alloc] = api.final_allocs(job_id)
    assert alloc["TaskStates"]["t"]["Restarts"] == 1
    assert api.logs(alloc["ID"], "t") == b"run\nrun\n"


def test_signal_and_exit_message_in_the_terminated_event(emu):
    job_id = unique("sig")
    task = mock_task("t", exit_code=0, exit_signal=9, exit_err_msg="boom")
    emu.register(batch_job(job_id, [task], restart=no_restart(), reschedule=no_reschedule()))
    [stub] = emu.final_allocs(job_id)
    events = emu.get(f"/v1/allocation/{stub['ID']}").json()["TaskStates"]["t"]["Events"]
    terminated = next(e for e in events if e["Type"] == "Terminated")
    assert terminated["DisplayMessage"] == 'Exit Code: 0, Signal: 9, Exit Message: "boom"'
    assert (terminated["ExitCode"], terminated["Signal"], terminated["Message"]) == (0, 9, "boom")
    assert terminated["Details"]["exit_message"] == "boom"
    assert events[-1]["DisplayMessage"] == "Policy allows no restarts"
    assert stub["ClientStatus"] == "failed"


def test_recoverable_start_errors_follow_the_restart_policy(emu):
    job_id = unique("starterr")
    task = mock_task("t", start_error="image pull timeout", start_error_recoverable=True)
    emu.register(batch_job(job_id, [task], restart=restart_policy(1), reschedule=no_reschedule()))
    [stub] = emu.final_allocs(job_id)
    alloc = emu.get(f"/v1/allocation/{stub['ID']}").json()
    assert event_types(alloc, "t") == [
        "Received",
        "Task Setup",
        "Driver Failure",
        "Restarting",
        "Driver Failure",
        "Not Restarting",
    ]
    assert alloc["TaskStates"]["t"]["Events"][2]["DisplayMessage"] == "image pull timeout"


def test_a_failed_allocation_is_rescheduled_into_a_linked_allocation(emu):
    job_id = unique("resched")
    task = mock_task("t", exit_code=2)
    body = batch_job(job_id, [task], restart=no_restart(), reschedule=reschedule_policy(1))
    emu.register(body)
    allocs = emu.wait_allocs(
        job_id, lambda a: len(a) == 2 and all(x["ClientStatus"] == "failed" for x in a)
    )
    emu.wait_dead(job_id)
    by_id = {a["ID"]: emu.get(f"/v1/allocation/{a['ID']}").json() for a in allocs}
    first = next(a for a in by_id.values() if not a.get("PreviousAllocation"))
    second = by_id[first["NextAllocation"]]
    assert second["PreviousAllocation"] == first["ID"]
    assert (first["DesiredStatus"], first["DesiredDescription"]) == (
        "stop",
        "alloc was rescheduled because it failed",
    )
    [event] = second["RescheduleTracker"]["Events"]
    assert (event["PrevAllocID"], event["PrevNodeID"]) == (first["ID"], first["NodeID"])
    assert event["Delay"] == 100 * MS
    assert "NextAllocation" not in second  # attempts used up: the chain ends here
    evals = emu.get(f"/v1/job/{job_id}/evaluations").json()
    assert sorted(e["TriggeredBy"] for e in evals) == ["alloc-failure", "job-register"]
    assert all(e["Status"] == "complete" for e in evals)
    failure_eval = next(e for e in evals if e["TriggeredBy"] == "alloc-failure")
    assert second["EvalID"] == failure_eval["ID"]
    summary = emu.get(f"/v1/job/{job_id}/summary").json()["Summary"]["g"]
    assert summary["Failed"] == 2


@pytest.mark.slow
def test_a_later_reschedule_goes_through_a_follow_up_evaluation(emu):
    job_id = unique("later")
    task = mock_task("t", exit_code=1)
    body = batch_job(job_id, [task], restart=no_restart(), reschedule=reschedule_policy(1, 2000))
    emu.register(body)
    [failed] = emu.wait_allocs(job_id, lambda a: a and a[0].get("FollowupEvalID"))
    followup = emu.get(f"/v1/evaluation/{failed['FollowupEvalID']}").json()
    assert followup["Status"] == "pending"
    assert followup["TriggeredBy"] == "alloc-failure"
    assert followup["StatusDescription"] == "created for delayed rescheduling"
    assert followup["WaitUntil"].endswith("Z")
    # A pending reschedule keeps the job pending: it is not over yet.
    assert emu.get(f"/v1/job/{job_id}").json()["Status"] == "pending"
    allocs = emu.wait_allocs(job_id, lambda a: len(a) == 2, timeout=20)
    replacement = next(a for a in allocs if a["ID"] != failed["ID"])
    assert replacement["EvalID"] == followup["ID"]
    emu.wait_dead(job_id)
    assert emu.get(f"/v1/evaluation/{followup['ID']}").json()["Status"] == "complete"


def test_a_successful_batch_task_is_never_restarted(api):
    job_id = unique("ok")
    api.register(batch_job(job_id, [sh_task("t", "true")], restart=restart_policy(3)))
    [alloc] = api.final_allocs(job_id)
    assert alloc["ClientStatus"] == "complete"
    assert alloc["TaskStates"]["t"]["Restarts"] == 0


def test_a_task_over_its_memory_is_oom_killed(emu):
    job_id = unique("oom")
    program = "import time\nblob = b'x' * (120 * 1024 * 1024)\ntime.sleep(30)\n"
    task = {
        "Name": "hog",
        "Driver": "raw_exec",
        "Config": {"command": sys.executable, "args": ["-c", program]},
        "Resources": {"CPU": 100, "MemoryMB": 64},
    }
    emu.register(batch_job(job_id, [task], restart=no_restart(), reschedule=no_reschedule()))
    [stub] = emu.final_allocs(job_id)
    events = emu.get(f"/v1/allocation/{stub['ID']}").json()["TaskStates"]["hog"]["Events"]
    terminated = next(e for e in events if e["Type"] == "Terminated")
    assert terminated["Details"] == {
        "exit_code": "137",
        "signal": "9",
        "oom_killed": "true",
        "exit_message": "OOM Killed",
    }
    assert terminated["DisplayMessage"] == 'Exit Code: 137, Signal: 9, Exit Message: "OOM Killed"'
    assert stub["ClientStatus"] == "failed"
