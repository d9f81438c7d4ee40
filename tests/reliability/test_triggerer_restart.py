"""A triggerer restarted while it follows a batch whose log rotates: no line lost or repeated.

The batch writes 2.2 MB to stdout through files of 1 MiB (``MaxFileSizeMB = 1``), so the
restart point lies inside the second rotated file. The first trigger is cancelled (what a
triggerer does when it shuts down or hands the trigger over) once it wrote the whole first phase
to the task log; its successor is built from ``serialize()`` alone, as a triggerer rebuilds a
trigger, and must continue with the next line. A cancelled trigger must leave nothing running
behind: a log stream still open would keep writing lines into the task log.
"""

from __future__ import annotations

import asyncio

import pytest
from nomad_testlib import HANG_BOUND, batch_job, dispatch

from airflow_provider_nomad.hooks.nomad import NomadAsyncHook
from airflow_provider_nomad.nomad.follow import JobFollower
from airflow_provider_nomad.nomad.outcome import JobResult
from airflow_provider_nomad.triggers.nomad import NomadJobEvent, NomadJobTrigger

PHASE_LINES = 6000  # x 181 bytes: the first phase alone fills more than one 1 MiB file
PAD = "x" * 170


def rotating_batch(release) -> str:
    return f"""
        import os, sys, time
        for i in range({PHASE_LINES}):
            print(f"first {{i:05d}} {PAD}")
        print("first phase done", file=sys.stderr, flush=True)
        sys.stdout.flush()
        while not os.path.exists({str(release)!r}):
            time.sleep(0.02)
        for i in range({PHASE_LINES}):
            print(f"second {{i:05d}} {PAD}")
        print("second phase done", file=sys.stderr)
    """


def expected_stdout() -> list[str]:
    return [f"first {i:05d} {PAD}" for i in range(PHASE_LINES)] + [
        f"second {i:05d} {PAD}" for i in range(PHASE_LINES)
    ]


async def wait_for_line(batch_log, stream: str, line: str, timeout: float = HANG_BOUND) -> None:
    """Wait until the task log holds ``line`` (captured output offers no notification)."""

    async def seen() -> None:
        while line not in batch_log.lines[stream]:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(seen(), timeout)


async def first_event(trigger: NomadJobTrigger, timeout: float = HANG_BOUND) -> NomadJobEvent:
    async def run() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return NomadJobEvent.from_dict(await asyncio.wait_for(run(), timeout))


@pytest.fixture
def gated_child(nomad_conn, nomad_client, tmp_path):
    release = tmp_path / "release"
    nomad_client.jobs.register_job({"Job": batch_job("rotating", rotating_batch(release))})
    return dispatch(nomad_client, "rotating")["DispatchedJobID"], release


def follower_tasks() -> list[str]:
    """Names of the coroutines of a JobFollower still scheduled in this event loop."""
    return sorted(
        t.get_coro().__qualname__
        for t in asyncio.all_tasks()
        if "JobFollower" in getattr(t.get_coro(), "__qualname__", "")
    )


async def test_cancelled_trigger_leaves_no_log_stream_running(gated_child, batch_log):
    child, release = gated_child
    trigger = NomadJobTrigger(job_id=child)
    runner = asyncio.create_task(first_event(trigger))
    await wait_for_line(batch_log, "stderr", "first phase done")
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    await trigger.cleanup()
    leftovers = follower_tasks()
    release.touch()  # let the batch end, whatever the outcome of the check
    assert leftovers == [], "the cancelled trigger is still streaming"


async def test_trigger_rebuilt_from_serialize_resumes_after_the_last_line(gated_child, batch_log):
    child, release = gated_child
    first = NomadJobTrigger(job_id=child)
    runner = asyncio.create_task(first_event(first))
    await wait_for_line(batch_log, "stderr", "first phase done")
    await wait_for_line(batch_log, "stdout", f"first {PHASE_LINES - 1:05d} {PAD}")
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    await first.cleanup()

    classpath, kwargs = first.serialize()
    release.touch()
    event = await first_event(NomadJobTrigger(**kwargs))

    assert classpath == "airflow_provider_nomad.triggers.nomad.NomadJobTrigger"
    assert event.error is None and event.outcome.result is JobResult.SUCCEEDED
    assert batch_log.lines["stderr"] == ["first phase done", "second phase done"]
    stdout = batch_log.lines["stdout"]
    assert len(stdout) == 2 * PHASE_LINES, f"{len(stdout)} lines: {stdout[6000:6002]}"
    assert stdout == expected_stdout()


class LineRecorder:
    """``on_line`` of a follower: keeps the lines and signals once the awaited ones arrived."""

    def __init__(self, *awaited: str) -> None:
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.awaited = set(awaited)
        self.arrived = asyncio.Event()

    def __call__(self, line) -> None:
        self.lines[line.key.stream].append(line.text)
        self.awaited.discard(line.text)
        if not self.awaited:
            self.arrived.set()


async def test_follower_resumes_inside_a_rotated_file_from_its_offsets(gated_child):
    child, release = gated_child
    before = LineRecorder(f"first {PHASE_LINES - 1:05d} {PAD}", "first phase done")
    after = LineRecorder()
    async with NomadAsyncHook() as hook:
        first = JobFollower(hook, child, on_line=before)
        runner = asyncio.create_task(first.run())
        await asyncio.wait_for(before.arrived.wait(), HANG_BOUND)
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        offsets = first.offsets
        release.touch()
        second = JobFollower(hook, child, offsets=offsets, on_line=after)
        outcome = await asyncio.wait_for(second.run(), HANG_BOUND)

    [stdout_offset] = [v for k, v in offsets.items() if k.endswith("/main/stdout")]
    assert stdout_offset == PHASE_LINES * len(f"first 00000 {PAD}\n") > 1024 * 1024
    assert before.lines["stdout"][:PHASE_LINES] == expected_stdout()[:PHASE_LINES]
    assert before.lines["stderr"][:1] == ["first phase done"]
    assert outcome.result is JobResult.SUCCEEDED
    assert after.lines["stdout"] == expected_stdout()[PHASE_LINES:]
    assert after.lines["stderr"] == ["second phase done"]
