"""NomadJobTrigger.run() in asyncio against the emulator."""

from __future__ import annotations

import asyncio
import time

import pytest
from nomad_testlib import batch_job, dispatch

from airflow_provider_nomad import connection
from airflow_provider_nomad.nomad.outcome import JobResult
from airflow_provider_nomad.triggers.nomad import NomadJobEvent, NomadJobTrigger


async def run_trigger(trigger: NomadJobTrigger, timeout: float = 60) -> NomadJobEvent:
    async def first_event():
        async for event in trigger.run():
            return event

    event = await asyncio.wait_for(first_event(), timeout)
    return NomadJobEvent.from_dict(event.payload)


def test_serialize_round_trips_exactly():
    trigger = NomadJobTrigger(
        job_id="settlement/dispatch-af-1-2-3",
        nomad_conn_id="nomad_prod",
        namespace="batch",
        region="tokyo",
        dispatch_eval_id="e1",
        created_index=4242,
        deadline=1_900_000_000.5,
        offsets={"a1/main/stdout": 42},
        stream_logs=False,
        adopted="running",
        alloc_id="a1",
        task_group="g",
        stop_on_deadline=False,
        shared_watch=False,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_nomad.triggers.nomad.NomadJobTrigger"
    assert NomadJobTrigger(**kwargs).serialize() == (classpath, kwargs)


async def test_completion_streams_logs_and_carries_offsets(nomad_conn, nomad_client, batch_log):
    script = """
        import sys
        for i in range(20):
            print(f"out {i}")
        print("warn", file=sys.stderr)
    """
    nomad_client.jobs.register_job({"Job": batch_job("trig", script)})
    response = dispatch(nomad_client, "trig")
    trigger = NomadJobTrigger(
        job_id=response["DispatchedJobID"], dispatch_eval_id=response["EvalID"]
    )
    event = await run_trigger(trigger)
    assert event.error is None
    assert event.outcome.result is JobResult.SUCCEEDED
    assert batch_log.lines["stdout"] == [f"out {i}" for i in range(20)]
    assert batch_log.lines["stderr"] == ["warn"]
    stdout_offset = next(v for k, v in event.offsets.items() if k.endswith("/main/stdout"))
    assert stdout_offset == len("".join(f"out {i}\n" for i in range(20)))


async def test_failure_with_exit_code(nomad_conn, nomad_client, batch_log):
    nomad_client.jobs.register_job({"Job": batch_job("trigfail", "import sys; sys.exit(7)")})
    response = dispatch(nomad_client, "trigfail")
    event = await run_trigger(NomadJobTrigger(job_id=response["DispatchedJobID"]))
    assert event.outcome.result is JobResult.FAILED
    assert [t.exit_code for t in event.outcome.tasks] == [7]


async def test_placement_failure(nomad_conn, nomad_client, batch_log):
    nomad_client.jobs.register_job({"Job": batch_job("trighuge", "print(1)", memory_mb=10**6)})
    response = dispatch(nomad_client, "trighuge")
    event = await run_trigger(
        NomadJobTrigger(job_id=response["DispatchedJobID"], dispatch_eval_id=response["EvalID"])
    )
    assert event.outcome.result is JobResult.PLACEMENT_FAILED
    assert "memory exhausted" in event.outcome.reason


async def test_reschedule_followed(nomad_conn, nomad_client, batch_log, tmp_path):
    marker = tmp_path / "once"
    script = f"""
        import os, sys
        if not os.path.exists({str(marker)!r}):
            open({str(marker)!r}, "w").close()
            sys.exit(2)
        print("second")
    """
    nomad_client.jobs.register_job({"Job": batch_job("trigflaky", script, reschedule_attempts=1)})
    response = dispatch(nomad_client, "trigflaky")
    event = await run_trigger(NomadJobTrigger(job_id=response["DispatchedJobID"]))
    assert event.outcome.result is JobResult.SUCCEEDED
    assert len(event.outcome.alloc_ids) == 2
    assert batch_log.lines["stdout"] == ["second"]


async def test_deadline_stops_the_job(nomad_conn, nomad_client, batch_log):
    nomad_client.jobs.register_job({"Job": batch_job("trigslow", "import time; time.sleep(600)")})
    response = dispatch(nomad_client, "trigslow")
    child = response["DispatchedJobID"]
    event = await run_trigger(NomadJobTrigger(job_id=child, deadline=time.time() + 1.5))
    assert event.outcome.result is JobResult.TIMED_OUT
    assert nomad_client.job.get_job(child)["Stop"] is True


async def test_cancellation_never_stops_the_job_but_on_kill_does(
    nomad_conn, nomad_client, batch_log
):
    nomad_client.jobs.register_job(
        {"Job": batch_job("trigcancel", "import time; print('up', flush=True); time.sleep(600)")}
    )
    child = dispatch(nomad_client, "trigcancel")["DispatchedJobID"]
    trigger = NomadJobTrigger(job_id=child)
    runner = asyncio.create_task(run_trigger(trigger))
    while "up" not in batch_log.lines["stdout"]:
        await asyncio.sleep(0.05)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    await trigger.cleanup()
    assert nomad_client.job.get_job(child)["Status"] == "running"
    await trigger.on_kill()
    assert nomad_client.job.get_job(child)["Stop"] is True


async def test_restart_resumes_from_carried_offsets(nomad_conn, nomad_client, batch_log, tmp_path):
    release = tmp_path / "release"
    script = f"""
        import os, time
        for i in range(100):
            print(f"first {{i}}")
        print("", end="", flush=True)
        while not os.path.exists({str(release)!r}):
            time.sleep(0.02)
        for i in range(100):
            print(f"second {{i}}")
    """
    nomad_client.jobs.register_job({"Job": batch_job("trigresume", script)})
    child = dispatch(nomad_client, "trigresume")["DispatchedJobID"]

    first = NomadJobTrigger(job_id=child)
    runner = asyncio.create_task(run_trigger(first))
    while len(batch_log.lines["stdout"]) < 100:
        await asyncio.sleep(0.05)
    # The triggerer goes away: the trigger is cancelled; its successor is built from the
    # serialized kwargs with the offsets carried so far.
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    _, kwargs = first.serialize()
    kwargs["offsets"] = first._follower.offsets
    release.touch()
    event = await run_trigger(NomadJobTrigger(**kwargs))
    assert event.outcome.result is JobResult.SUCCEEDED
    expected = [f"first {i}" for i in range(100)] + [f"second {i}" for i in range(100)]
    assert batch_log.lines["stdout"] == expected


async def test_faults_mid_wait(nomad_conn, nomad_client, batch_log):
    nomad_client.jobs.register_job(
        {"Job": batch_job("trigfault", "for i in range(300): print(f'n {i}')")}
    )
    control = nomad_conn.control
    control.inject_fault(route="GET /v1/job/:job_id/allocations", status=500, count=2)
    control.inject_fault(route="GET /v1/client/fs/logs/:alloc_id", drop=True, count=2)
    control.inject_fault(route="*", status=None, delay=0.1, probability=0.3, seed=3, count=None)
    child = dispatch(nomad_client, "trigfault")["DispatchedJobID"]
    event = await run_trigger(NomadJobTrigger(job_id=child))
    assert event.outcome.result is JobResult.SUCCEEDED
    assert batch_log.lines["stdout"] == [f"n {i}" for i in range(300)]


async def test_a_log_read_after_the_end_says_the_streams_are_not_interleaved(
    nomad_conn, nomad_client, batch_log
):
    script = """
        import sys
        print("out first")
        print("err second", file=sys.stderr)
    """
    nomad_client.jobs.register_job({"Job": batch_job("trigended", script)})
    child = dispatch(nomad_client, "trigended")["DispatchedJobID"]
    nomad_conn.control.wait_job_status(child, "dead", timeout=300)
    event = await run_trigger(NomadJobTrigger(job_id=child))
    assert event.outcome.result is JobResult.SUCCEEDED
    assert batch_log.lines == {"stdout": ["out first"], "stderr": ["err second"]}
    assert batch_log.text.count("its stdout and stderr follow one after the other") == 1


async def test_a_quiet_batch_keeps_its_followed_logs_open_past_the_read_timeout(
    nomad_conn, nomad_client, batch_log, tmp_path, monkeypatch
):
    # Followed logs are read plain: nothing comes while the task prints nothing (no heartbeat),
    # so they are read with no read timeout. A silence longer than the connection's timeout
    # (1 s here) must neither warn nor reconnect, and the lines after it arrive while the task
    # still runs.
    monkeypatch.setattr(connection, "DEFAULT_TIMEOUT", 1.0)
    release = tmp_path / "release"
    script = f"""
        import os, time
        print("before the silence", flush=True)
        time.sleep(3)
        print("after the silence", flush=True)
        while not os.path.exists({str(release)!r}):
            time.sleep(0.02)
    """
    nomad_client.jobs.register_job({"Job": batch_job("quiet", script)})
    response = dispatch(nomad_client, "quiet")
    nomad_conn.control.reset_counts()
    trigger = NomadJobTrigger(
        job_id=response["DispatchedJobID"], dispatch_eval_id=response["EvalID"]
    )
    running = asyncio.create_task(run_trigger(trigger))
    loop = asyncio.get_running_loop()
    hang_bound = loop.time() + 60
    while "after the silence" not in batch_log.lines["stdout"]:
        assert loop.time() < hang_bound, "the line after the silence never reached the task log"
        assert not running.done(), "the trigger ended while the batch was held"
        await asyncio.sleep(0.05)
    release.touch()
    event = await running
    assert event.outcome.result is JobResult.SUCCEEDED
    assert batch_log.lines["stdout"] == ["before the silence", "after the silence"]
    assert "interrupted" not in batch_log.text
    # One followed read and one final read per stream, nothing more.
    assert nomad_conn.control.request_counts()["GET /v1/client/fs/logs/:alloc_id"] == 4
