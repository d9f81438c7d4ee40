"""The rest of a big finished log, read in a worker thread: whole, in order, and stoppable.

Past ``bulk_read_threshold`` bytes in one read of a finished task's log, the follower hands the
rest to a blocking read in a thread (see ``log_reader_thread``). These tests use a small
threshold so that megabyte logs take that path, and check what the thread must keep: every
byte once and in order, callbacks never called at once, and after a cancellation (a triggerer
shutting down) nothing more handed out, with offsets that resume exactly.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from nomad_testlib import HANG_BOUND, batch_job, dispatch

from airflow_provider_nomad.hooks.nomad import NomadAsyncHook, NomadHook
from airflow_provider_nomad.nomad.follow import JobFollower
from airflow_provider_nomad.nomad.log_lines import LogChunk, LogStreamKey
from airflow_provider_nomad.nomad.outcome import JobResult

THRESHOLD = 64 * 1024
STDOUT_LINES = 15_000  # 1.5 MB: two rotated files of the 1 MB test LogConfig
STDERR_LINES = 6_000

BATCH = f"""
    import sys
    for i in range({STDOUT_LINES}):
        sys.stdout.write(f"{{i:08d}} settled " + "x" * 82 + "\\n")
    for i in range({STDERR_LINES}):
        sys.stderr.write(f"{{i:08d}} warning " + "y" * 82 + "\\n")
"""


def expected(stream: str) -> bytes:
    word, fill, count = (
        ("settled", "x", STDOUT_LINES) if stream == "stdout" else ("warning", "y", STDERR_LINES)
    )
    return "".join(f"{i:08d} {word} " + fill * 82 + "\n" for i in range(count)).encode()


class Recorder:
    """``on_chunk``: keeps the bytes per stream, notes the threads and any overlapping call."""

    def __init__(self) -> None:
        self.data: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self.calls = 0
        self.thread_names: set[str] = set()
        self.overlaps = 0
        self._inside = False

    def __call__(self, chunk: LogChunk) -> None:
        if self._inside:
            self.overlaps += 1
        self._inside = True
        try:
            self.calls += 1
            self.thread_names.add(threading.current_thread().name)
            self.data[chunk.key.stream] += chunk.data
        finally:
            self._inside = False


@pytest.fixture
def ended_big_batch(nomad_conn, nomad_client):
    """A batch that wrote 1.5 MB of stdout and 0.6 MB of stderr, and has ended."""
    nomad_client.jobs.register_job({"Job": batch_job("bulk", BATCH)})
    job_id = dispatch(nomad_client, "bulk")["DispatchedJobID"]
    nomad_conn.control.wait_job_status(job_id, ["dead"])
    [alloc] = nomad_client.job.get_allocations(job_id)
    return job_id, alloc["ID"]


async def test_a_big_finished_log_arrives_whole_and_in_order(ended_big_batch):
    job_id, alloc_id = ended_big_batch
    recorder = Recorder()
    async with NomadAsyncHook() as hook:
        follower = JobFollower(hook, job_id, on_chunk=recorder, bulk_read_threshold=THRESHOLD)
        outcome = await asyncio.wait_for(follower.run(), HANG_BOUND)
    assert outcome.result is JobResult.SUCCEEDED
    for stream in ("stdout", "stderr"):
        assert bytes(recorder.data[stream]) == expected(stream), stream
        key = LogStreamKey(alloc_id, "main", stream)
        assert follower.offsets[str(key)] == len(expected(stream))
    assert any(name.startswith("nomad-log-read") for name in recorder.thread_names)
    assert recorder.overlaps == 0


async def test_below_the_threshold_nothing_leaves_the_event_loop(ended_big_batch):
    job_id, _ = ended_big_batch
    recorder = Recorder()
    async with NomadAsyncHook() as hook:
        follower = JobFollower(hook, job_id, on_chunk=recorder, bulk_read_threshold=10**9)
        await asyncio.wait_for(follower.run(), HANG_BOUND)
    assert recorder.thread_names == {threading.current_thread().name}
    assert bytes(recorder.data["stdout"]) == expected("stdout")


async def test_a_cancelled_bulk_read_hands_out_nothing_more_and_resumes_exactly(
    ended_big_batch, monkeypatch
):
    job_id, alloc_id = ended_big_batch
    readers = threading.Condition()
    open_reads = []  # one item per bulk read not finished yet
    in_thread, release = threading.Event(), threading.Event()
    original_read_log = NomadHook.read_log

    def read_log(self, *args, **kwargs):
        with readers:
            open_reads.append(args)
            pausing = len(open_reads) == 1 and not in_thread.is_set()
        try:
            for index, data in enumerate(original_read_log(self, *args, **kwargs)):
                if pausing and index == 1:
                    # The first reader pauses after its first delivery, between two reads:
                    # it holds no lock, so the event loop (and the other log) go on.
                    in_thread.set()
                    assert release.wait(HANG_BOUND), "the test never released the reader thread"
                yield data
        finally:
            with readers:
                open_reads.remove(args)
                readers.notify_all()

    def all_reads_finished() -> bool:
        with readers:
            return readers.wait_for(lambda: not open_reads, timeout=HANG_BOUND)

    monkeypatch.setattr(NomadHook, "read_log", read_log)
    first = Recorder()
    async with NomadAsyncHook() as hook:
        follower = JobFollower(hook, job_id, on_chunk=first, bulk_read_threshold=THRESHOLD)
        running = asyncio.create_task(follower.run())
        assert await asyncio.to_thread(in_thread.wait, HANG_BOUND)
        running.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await running
        calls_at_cancel = first.calls
        assert await asyncio.to_thread(all_reads_finished)
        assert first.calls == calls_at_cancel
        assert any(name.startswith("nomad-log-read") for name in first.thread_names)

        offsets = follower.offsets
        for stream in ("stdout", "stderr"):
            key = str(LogStreamKey(alloc_id, "main", stream))
            assert bytes(first.data[stream]) == expected(stream)[: offsets.get(key, 0)]
        second = Recorder()
        resumed = JobFollower(hook, job_id, offsets=offsets, on_chunk=second)
        await asyncio.wait_for(resumed.run(), HANG_BOUND)
    for stream in ("stdout", "stderr"):
        assert bytes(first.data[stream] + second.data[stream]) == expected(stream), stream


async def test_the_thread_hands_lines_out_in_the_callers_log_context(ended_big_batch):
    # A triggerer sends a line to its task's log by the trigger id bound in the trigger's
    # context; lines handed out by the reader thread must carry it too.
    import structlog

    job_id, _ = ended_big_batch
    seen: list[dict] = []

    def on_chunk(chunk: LogChunk) -> None:
        if threading.current_thread() is not threading.main_thread():
            seen.append(structlog.contextvars.get_contextvars())

    async def follow() -> None:
        structlog.contextvars.bind_contextvars(trigger_id=42)
        async with NomadAsyncHook() as hook:
            follower = JobFollower(hook, job_id, on_chunk=on_chunk, bulk_read_threshold=THRESHOLD)
            await asyncio.wait_for(follower.run(), HANG_BOUND)

    # Its own task, so the binding stays in that task's context.
    await asyncio.ensure_future(follow())
    assert seen, "the reader thread handed nothing out"
    assert all(context.get("trigger_id") == 42 for context in seen)
