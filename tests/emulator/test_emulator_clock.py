"""The model with an injected clock: restart timing moves only when the test moves time."""

from __future__ import annotations

import asyncio

from emulator_testlib import SECOND, batch_job, mock_task, no_reschedule

from airflow_provider_nomad.testing.nomad.acl import Acl
from airflow_provider_nomad.testing.nomad.backend import NomadBackend
from airflow_provider_nomad.testing.nomad.clock import ManualClock


async def until(backend: NomadBackend, key, predicate, timeout: float = 10.0):
    """Wait on the state store's watch key until ``predicate()`` holds (no polling)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        remaining = deadline - loop.time()
        assert remaining > 0, "condition not reached"
        await backend.watch.wait([key], remaining)
    return predicate()


async def settle() -> None:
    """Let every ready callback run (no time passes: the clock is manual)."""
    for _ in range(20):
        await asyncio.sleep(0)


def task_state(backend: NomadBackend, job_id: str):
    allocs = backend.state.job_allocs(("default", job_id))
    if not allocs or "t" not in allocs[0].task_states:
        return None
    return allocs[0].task_states["t"]


async def test_restart_delays_and_run_times_follow_the_injected_clock(tmp_path):
    clock = ManualClock()
    backend = NomadBackend(state_dir=str(tmp_path), acl=Acl(False), clock=clock)
    key = ("job_allocs", "default", "j")
    try:
        restart = {"Attempts": 1, "Delay": 60 * SECOND, "Interval": 3600 * SECOND, "Mode": "fail"}
        body = batch_job(
            "j",
            [mock_task("t", run_for="10s", exit_code=1)],
            restart=restart,
            reschedule=no_reschedule(),
        )
        backend.register_job(body["Job"], "default", None)
        await until(
            backend,
            key,
            lambda: (
                task_state(backend, "j") is not None and task_state(backend, "j").state == "running"
            ),
        )
        state = task_state(backend, "j")
        started = state.events[-1]["Time"]
        clock.advance(9.999)
        await settle()
        assert state.state == "running"  # 10 s have not passed on the injected clock
        clock.advance(0.001)
        await until(backend, key, lambda: state.state == "pending")
        terminated, restarting = state.events[-2:]
        assert terminated["Type"] == "Terminated" and terminated["Time"] == started + 10 * SECOND
        assert restarting["Type"] == "Restarting"
        assert 60 * SECOND <= restarting["StartDelay"] <= 75 * SECOND
        clock.advance(restarting["StartDelay"] / 1e9 - 0.5)
        await settle()
        assert state.state == "pending" and state.restarts == 1
        clock.advance(0.5)
        await until(backend, key, lambda: state.state == "running")
        clock.advance(10)
        await until(backend, key, lambda: state.state == "dead")
        assert state.failed is True
        assert state.events[-1]["Type"] == "Not Restarting"
        assert state.finished_at_ns == clock.now_ns()
    finally:
        backend.shutdown()


def test_a_timer_fires_when_time_is_advanced_to_it_in_float_steps():
    """Seconds become nanoseconds rounded, not truncated: advancing to a restart delay in two
    steps (as the test above does) reaches it, whatever its jitter drew (this delay's steps
    truncated fell 1 ns short, and the restart never came)."""
    clock = ManualClock()
    delay_ns = 69_198_448_335
    fired: list[int] = []
    clock.call_later(delay_ns / 1e9, lambda: fired.append(clock.now_ns()))
    start = clock.now_ns()
    clock.advance(delay_ns / 1e9 - 0.5)
    assert fired == []
    clock.advance(0.5)
    assert fired == [start + delay_ns]
