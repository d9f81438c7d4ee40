"""Unit tests of the restart tracker and the reschedule arithmetic (Nomad's formulas)."""

from __future__ import annotations

import random

from emulator_testlib import SECOND

from airflow_provider_nomad.testing.nomad.records import AllocRecord, TaskState
from airflow_provider_nomad.testing.nomad.restarts import (
    NOT_RESTARTING,
    RESTARTING,
    TERMINATED,
    ExitResult,
    RestartTracker,
    StartError,
)
from airflow_provider_nomad.testing.nomad.scheduler import (
    next_delay,
    next_reschedule_time,
    reschedule_eligible,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000 * SECOND

    def __call__(self) -> int:
        return self.now


def tracker(clock, **policy) -> RestartTracker:
    base = {"Attempts": 2, "Interval": 60 * SECOND, "Delay": 10 * SECOND, "Mode": "fail"}
    return RestartTracker(base | policy, "batch", clock, random.Random(1))


def test_restarts_within_the_interval_then_fail_mode_gives_up():
    clock = Clock()
    t = tracker(clock)
    for _ in range(2):
        t.set_exit_result(ExitResult(exit_code=1))
        decision, delay = t.state()
        assert decision == RESTARTING and 10 * SECOND <= delay <= 12.5 * SECOND
    t.set_exit_result(ExitResult(exit_code=1))
    assert t.state() == (NOT_RESTARTING, 0)
    assert t.reason == 'Exceeded allowed attempts 2 in interval 1m0s and mode is "fail"'


def test_a_new_interval_resets_the_count():
    clock = Clock()
    t = tracker(clock, Attempts=1)
    t.set_exit_result(ExitResult(exit_code=1))
    assert t.state()[0] == RESTARTING
    clock.now += 61 * SECOND
    t.set_exit_result(ExitResult(exit_code=1))
    assert t.state()[0] == RESTARTING


def test_delay_mode_waits_for_the_next_interval():
    clock = Clock()
    t = tracker(clock, Attempts=1, Mode="delay")
    t.set_exit_result(ExitResult(exit_code=1))
    t.state()
    clock.now += 5 * SECOND
    t.set_exit_result(ExitResult(exit_code=1))
    decision, delay = t.state()
    assert (decision, delay) == (RESTARTING, 55 * SECOND)
    assert t.reason == "Exceeded allowed attempts, applying a delay"


def test_success_and_start_errors():
    clock = Clock()
    t = tracker(clock, Attempts=5)
    t.set_exit_result(ExitResult(exit_code=0))
    assert t.state() == (TERMINATED, 0)
    assert t.reason == "Restart unnecessary as task terminated successfully"
    t.set_start_error(StartError("bad config"))
    assert t.state() == (NOT_RESTARTING, 0) and t.reason == "Error was unrecoverable"
    t.set_start_error(StartError("flaky", recoverable=True))
    assert t.state()[0] == RESTARTING


def failed_alloc(policy: dict, events=None, finished: int = 500 * SECOND) -> AllocRecord:
    group = {"Name": "g", "ReschedulePolicy": policy, "Tasks": []}
    alloc = AllocRecord(
        id="a",
        namespace="default",
        eval_id="e",
        name="j.g[0]",
        node_id="n",
        node_name="node-1",
        job_id="j",
        job={"TaskGroups": [group]},
        job_create_index=1,
        task_group="g",
        task_resources={},
        disk_mb=0,
        metrics={},
        client_status="failed",
        reschedule_events=events,
    )
    alloc.task_states["t"] = TaskState(state="dead", failed=True, finished_at_ns=finished)
    return alloc


def event(at: int, delay: int) -> dict:
    return {"RescheduleTime": at, "PrevAllocID": "x", "PrevNodeID": "n", "Delay": delay}


def test_delay_functions():
    constant = {"Attempts": 5, "Interval": 3600 * SECOND, "Delay": 5 * SECOND}
    exponential = constant | {"DelayFunction": "exponential", "MaxDelay": 30 * SECOND}
    fibonacci = constant | {"DelayFunction": "fibonacci", "MaxDelay": 60 * SECOND}
    history = [event(100 * SECOND, 5 * SECOND), event(200 * SECOND, 10 * SECOND)]
    assert next_delay(failed_alloc(constant, history), constant) == 5 * SECOND
    assert next_delay(failed_alloc(exponential, history), exponential) == 20 * SECOND
    assert next_delay(failed_alloc(fibonacci, history), fibonacci) == 15 * SECOND
    capped = [event(100 * SECOND, 20 * SECOND), event(480 * SECOND, 20 * SECOND)]
    assert next_delay(failed_alloc(exponential, capped), exponential) == 30 * SECOND


def test_reschedule_time_and_eligibility():
    policy = {
        "Attempts": 1,
        "Interval": 3600 * SECOND,
        "Delay": 5 * SECOND,
        "DelayFunction": "constant",
    }
    fresh = failed_alloc(policy)
    assert next_reschedule_time(fresh) == (505 * SECOND, True)
    assert reschedule_eligible(fresh, 600 * SECOND)
    used = failed_alloc(policy, [event(400 * SECOND, 5 * SECOND)])
    assert next_reschedule_time(used)[1] is False
    assert not reschedule_eligible(used, 600 * SECOND)
    assert reschedule_eligible(used, 400 * SECOND + 3601 * SECOND)  # outside the interval
    assert not reschedule_eligible(failed_alloc({"Attempts": 0}), 0)
    assert reschedule_eligible(failed_alloc({"Unlimited": True}), 0)
