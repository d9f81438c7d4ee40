"""JobChangeWatch against a scripted event stream: who wakes, when, and from which index."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from airflow_provider_nomad.blocking import BlockingPacer
from airflow_provider_nomad.exceptions import NomadPermissionError
from airflow_provider_nomad.nomad.follow import JobFollower
from airflow_provider_nomad.nomad.job_watch import (
    WAKE_SLICE,
    JobChangeWatch,
    WatchUnavailable,
    job_of,
    watch_for,
)

HANG = 30


class _Stream:
    """One connection: lines pushed by the test; ``None`` ends it."""

    def __init__(self) -> None:
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()

    async def aiter_lines(self):
        while (line := await self.lines.get()) is not None:
            yield line

    async def aclose(self) -> None:
        pass

    def send(self, index: int | None = None, *jobs: str) -> None:
        if index is None:
            self.lines.put_nowait("{}")
            return
        events = [
            {
                "Topic": "Allocation",
                "Key": f"alloc-{job}",
                "FilterKeys": [job, ""],
                "Index": index,
                "Payload": {"Allocation": {"ID": f"alloc-{job}", "JobID": job}},
            }
            for job in jobs
        ]
        self.lines.put_nowait(json.dumps({"Index": index, "Events": events}))

    def send_allocation(self, index: int, alloc: dict) -> None:
        """One allocation event, its payload as Nomad writes it (the whole allocation)."""
        event = {
            "Topic": "Allocation",
            "Type": "AllocationUpdated",
            "Key": alloc["ID"],
            "FilterKeys": [alloc["JobID"], ""],
            "Index": index,
            "Payload": {"Allocation": alloc},
        }
        self.lines.put_nowait(json.dumps({"Index": index, "Events": [event]}))


class _Hook:
    """Hands out the streams the test queued, recording the index each was opened from."""

    def __init__(self) -> None:
        self.streams: asyncio.Queue[_Stream | Exception] = asyncio.Queue()
        self.opened_from: list[int] = []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        pass

    async def open_event_stream(self, index: int = 0):
        self.opened_from.append(index)
        stream = await self.streams.get()
        if isinstance(stream, Exception):
            raise stream
        return stream


def _watch_on(*streams: _Stream | Exception) -> tuple[_Hook, JobChangeWatch]:
    """A watch whose hook hands out ``streams`` (or raises), one per connection, in order."""
    hook = _Hook()
    for stream in streams:
        hook.streams.put_nowait(stream)
    return hook, JobChangeWatch(lambda: hook)


async def _waiter(watch: JobChangeWatch, job: str, index: int, mark: int) -> asyncio.Task:
    task = asyncio.create_task(watch.wait_changed(job, index, mark, HANG))
    await asyncio.sleep(0)  # let it start waiting
    return task


async def _until(condition) -> None:
    async with asyncio.timeout(HANG):
        while not condition():
            await asyncio.sleep(0)


async def test_wakes_only_the_followers_of_the_job_that_changed():
    first = _Stream()
    _hook, watch = _watch_on(first)
    with watch.following("a"), watch.following("b"):
        first.send()
        await _until(lambda: watch._generation == 1)
        mark = watch.mark()
        a = await _waiter(watch, "a", 10, mark)
        b = await _waiter(watch, "b", 10, mark)
        first.send(11, "b", "someone-else")
        await asyncio.wait_for(b, HANG)
        assert not a.done()
        first.send(12, "a")
        await asyncio.wait_for(a, HANG)


async def test_a_change_already_seen_by_the_read_does_not_wake():
    stream = _Stream()
    _hook, watch = _watch_on(stream)
    with watch.following("a"):
        stream.send()
        stream.send(7, "a")
        await _until(lambda: watch.job_index("a") == 7)
        mark = watch.mark()
        a = await _waiter(watch, "a", 7, mark)  # the read answered index 7: nothing new
        assert not a.done()
        stream.send(8, "a")
        await asyncio.wait_for(a, HANG)


async def test_a_reconnect_resumes_after_the_last_batch_and_wakes_everyone():
    first, second = _Stream(), _Stream()
    hook, watch = _watch_on(first, second)
    with watch.following("a"):
        first.send()
        first.send(20, "other")
        await _until(lambda: watch._index == 21)
        mark = watch.mark()
        a = await _waiter(watch, "a", 30, mark)
        first.lines.put_nowait(None)  # the connection breaks
        # The new connection says nothing about "a": events may have fallen out of Nomad's
        # replay buffer, so the follower is woken to read its state again.
        second.send()
        await asyncio.wait_for(a, HANG)
        assert hook.opened_from == [0, 21]


async def test_a_refused_stream_makes_the_watch_unavailable():
    _hook, watch = _watch_on(
        NomadPermissionError(403, "Permission denied", "GET", "/v1/event/stream")
    )
    with watch.following("a"):
        mark = watch._generation
        with pytest.raises(WatchUnavailable, match="HTTP 403"):
            await asyncio.wait_for(watch.wait_changed("a", 1, mark, HANG), HANG)
        with pytest.raises(WatchUnavailable):
            watch.mark()


class _HeldWatch(JobChangeWatch):
    """Holds a wait for the stream's opening until the test releases it."""

    def __init__(self, hook_factory) -> None:
        super().__init__(hook_factory)
        self.parked = asyncio.Event()
        self.release = asyncio.Event()

    async def connected(self, job_id: str, timeout: float) -> None:
        self.parked.set()
        await super().connected(job_id, timeout)
        await self.release.wait()


async def test_a_watch_given_up_by_one_wait_sends_the_parked_other_to_blocking_queries():
    """A follower's evaluation wait is parked until the stream opens; its allocation wait
    meets the refused stream first and gives the watch up. The parked wait must then read
    with its own blocking query too, not fail on the watch the other wait dropped."""
    hook = _Hook()
    watch = _HeldWatch(lambda: hook)
    follower = JobFollower(hook=None, job_id="j", changes=watch, blocking_wait=HANG)
    reads: list[tuple[str, int | None]] = []

    async def read(target: str, index: int | None = None, wait: float | None = None):
        reads.append((target, index))
        return {"read": target}, 9

    with watch.following("j"):
        follower._marks["allocs"] = watch.mark()  # the allocation list was read once before
        parked = asyncio.create_task(follower._paced_read(BlockingPacer(), read, "eval-1", 0))
        await asyncio.wait_for(watch.parked.wait(), HANG)
        hook.streams.put_nowait(
            NomadPermissionError(403, "Permission denied", "GET", "/v1/event/stream")
        )
        await _until(lambda: watch.unavailable is not None)
        allocs = await asyncio.wait_for(
            follower._paced_read(BlockingPacer(), read, "allocs", 5), HANG
        )
        assert follower._changes is None  # given up by the allocation wait
        watch.release.set()
        evaluation = await asyncio.wait_for(parked, HANG)
    assert (allocs, evaluation) == (({"read": "allocs"}, 9), ({"read": "eval-1"}, 9))
    assert reads == [("allocs", 5), ("eval-1", 0)]  # both as blocking queries


def _allocation(alloc_id: str, job: str, status: str) -> dict:
    # What an allocation event carries beyond the list's stub: Metrics, Resources, and more.
    return {
        "ID": alloc_id,
        "JobID": job,
        "ClientStatus": status,
        "CreateIndex": 5,
        "Metrics": {"NodesEvaluated": 1},
        "Resources": {"CPU": 100},
    }


async def test_allocation_events_bring_a_listed_job_up_to_date():
    stream = _Stream()
    _hook, watch = _watch_on(stream)
    with watch.following("a"):
        stream.send()
        await _until(lambda: watch._generation == 1)
        mark = watch.mark()
        stream.send_allocation(9, _allocation("a1", "a", "pending"))  # in the read below
        stream.send_allocation(12, _allocation("a1", "a", "running"))
        stream.send_allocation(13, _allocation("a2", "a", "pending"))
        stream.send_allocation(14, _allocation("a1", "a", "complete"))
        stream.send_allocation(15, _allocation("b1", "b", "failed"))  # nobody follows b
        await _until(lambda: watch._index == 16)
        # The follower's last read answered index 10.
        changed, last = watch.allocations_after("a", 10, mark)
        assert last == 14
        by_id = {a["ID"]: a for a in changed}
        assert by_id["a1"]["ClientStatus"] == "complete"  # the last event of each
        assert by_id["a2"]["ClientStatus"] == "pending"
        # Shaped as the allocation list shows it: no field the list leaves out.
        assert set(by_id["a1"]) == {"ID", "JobID", "ClientStatus", "CreateIndex"}
        assert watch.allocations_after("a", 14, mark) is None  # nothing after 14
        assert watch.allocations_after("b", 0, mark) is None


async def test_after_a_reconnect_allocation_events_cannot_tell():
    first, second = _Stream(), _Stream()
    _hook, watch = _watch_on(first, second)
    with watch.following("a"):
        first.send()
        await _until(lambda: watch._generation == 1)
        mark = watch.mark()
        first.lines.put_nowait(None)  # the connection breaks; what happened meanwhile is lost
        second.send()
        second.send_allocation(20, _allocation("a1", "a", "complete"))
        await _until(lambda: watch._index == 21)
        assert watch.allocations_after("a", 10, mark) is None  # read again
        changed, last = watch.allocations_after("a", 10, watch.mark())
        assert ([a["ClientStatus"] for a in changed], last) == (["complete"], 20)


def test_job_of_reads_the_payload_then_the_filter_keys():
    alloc = {"Topic": "Allocation", "Payload": {"Allocation": {"JobID": "j1"}}}
    evaluation = {"Topic": "Evaluation", "FilterKeys": ["j2", "dep"], "Payload": {}}
    assert job_of(alloc) == "j1"
    assert job_of(evaluation) == "j2"
    assert job_of({"Topic": "Node", "Payload": {"Node": {"ID": "n"}}}) is None


async def test_a_connection_wakes_the_followers_a_slice_per_pass_of_the_loop():
    # All at once, every follower would run on to its read in one pass of the loop, which
    # then serves nothing else for as long (seconds, with thousands of followers).
    stream = _Stream()
    hook, watch = _watch_on(stream)
    jobs = [f"job-{n}" for n in range(10 * WAKE_SLICE)]
    woken: list[str] = []

    async def follower(job: str) -> None:
        await watch.connected(job, HANG)
        woken.append(job)

    with contextlib.ExitStack() as following:
        for job in jobs:
            following.enter_context(watch.following(job))
        waiters = [asyncio.create_task(follower(job)) for job in jobs]
        await _until(lambda: watch._task is not None and hook.opened_from)
        stream.send()
        await _until(lambda: woken)
        assert len(woken) <= 2 * WAKE_SLICE  # this pass's slice, at most the next one too
        await asyncio.wait_for(asyncio.gather(*waiters), HANG)
        assert sorted(woken) == sorted(jobs)


def _send_evaluation(
    stream: _Stream, index: int, eval_id: str, job: str, status: str, created: int | None = None
) -> None:
    """One evaluation event at ``index``, of an evaluation created at ``created`` (or then)."""
    evaluation = {
        "ID": eval_id,
        "JobID": job,
        "Status": status,
        "TriggeredBy": "job-register",
        "CreateIndex": index if created is None else created,
        "SnapshotIndex": index,  # a field a follower does not judge by
    }
    event = {"Topic": "Evaluation", "Key": eval_id, "Index": index}
    event["Payload"] = {"Evaluation": evaluation}
    stream.lines.put_nowait(json.dumps({"Index": index, "Events": [event]}))


async def test_a_job_dispatched_during_the_connection_is_seen_whole():
    stream = _Stream()
    _hook, watch = _watch_on(stream)
    with watch.following("other"):  # keeps the stream open
        stream.send_allocation(5, _allocation("o1", "other", "running"))  # the first batch
        _send_evaluation(stream, 8, "e-new", "new", "pending")  # dispatched: nobody follows yet
        stream.send_allocation(9, _allocation("n1", "new", "running"))
        _send_evaluation(stream, 10, "e-new", "new", "complete", created=8)
        await _until(lambda: watch._index == 11)
        mark = watch.mark()
        with watch.following("new"):
            # Every batch since the connection's first was delivered: the dispatch and all after.
            assert watch.seen_whole("new", "e-new", mark)
            changed, last = watch.allocations_after("new", 0, mark)
            assert ([a["ID"] for a in changed], last) == (["n1"], 10)
            evaluation, at = watch.evaluation_after("new", "e-new", 0, mark)
            assert (evaluation["Status"], at) == ("complete", 10)
            assert "SnapshotIndex" not in evaluation  # cut down to what a follower judges by
            assert watch.evaluation_after("new", "e-new", 10, mark) is None  # nothing after 10
            assert not watch.seen_whole("new", "e-other", mark)  # not its dispatch
            assert not watch.seen_whole("new", "e-new", mark - 1)  # another connection's mark


async def test_a_job_dispatched_before_the_connection_is_not_seen_whole():
    first, second = _Stream(), _Stream()
    _hook, watch = _watch_on(first, second)
    with watch.following("a"):
        _send_evaluation(first, 5, "e-old", "old", "pending")
        await _until(lambda: watch.job_index("old") == 5)
        first.lines.put_nowait(None)  # reconnects from 6: the old job's dispatch is behind
        second.send_allocation(7, _allocation("o1", "old", "running"))
        _send_evaluation(second, 8, "e-old", "old", "complete", created=5)
        await _until(lambda: watch._index == 9)
        with watch.following("old"):
            # Its dispatch evaluation is known (from a later event), but the dispatch itself
            # came before this connection's first batch.
            assert not watch.seen_whole("old", "e-old", watch.mark())


async def test_only_the_most_recent_unfollowed_jobs_are_kept(monkeypatch):
    monkeypatch.setattr("airflow_provider_nomad.nomad.job_watch.RECENT_JOBS", 2)
    stream = _Stream()
    _hook, watch = _watch_on(stream)
    with watch.following("a"):
        for index, job in enumerate(["j1", "j2", "j3"], start=5):
            _send_evaluation(stream, index, f"e-{job}", job, "pending")
        await _until(lambda: watch._index == 8)
        assert [watch.job_index(j) for j in ("j1", "j2", "j3")] == [0, 6, 7]
        # j1's later events start a new record, which cannot vouch for its dispatch.
        stream.send_allocation(8, _allocation("x", "j1", "running"))
        _send_evaluation(stream, 9, "e-j1", "j1", "complete", created=5)
        await _until(lambda: watch._index == 10)
        with watch.following("j1"):
            assert not watch.seen_whole("j1", "e-j1", watch.mark())


async def test_a_record_older_than_the_connection_cannot_vouch_for_a_new_follower():
    first, second = _Stream(), _Stream()
    _hook, watch = _watch_on(first, second)
    with watch.following("j"):
        first.send_allocation(5, _allocation("o1", "other", "running"))  # the first batch
        _send_evaluation(first, 6, "e-j", "j", "pending")  # dispatched, followed
        await _until(lambda: watch.job_index("j") == 6)
        first.lines.put_nowait(None)  # a gap: what happened meanwhile is unknown
        second.send_allocation(20, _allocation("j1", "j", "running"))
        await _until(lambda: watch._index == 21)
        with watch.following("j"):  # a second follower of the same job
            # Its record began with the dispatch, but in the connection before the gap.
            assert not watch.seen_whole("j", "e-j", watch.mark())


async def test_an_evaluation_wait_ignores_the_job_s_other_changes_without_reading():
    stream = _Stream()
    _hook, watch = _watch_on(stream)
    follower = JobFollower(
        hook=None, job_id="new", dispatch_eval_id="e-new", created_index=8, changes=watch
    )
    reads: list[str] = []

    async def read(target: str, index: int | None = None, wait: float | None = None):
        reads.append(target)
        return {"read": target}, 99

    with watch.following("other"):  # keeps the stream open
        stream.send_allocation(5, _allocation("o1", "other", "running"))
        _send_evaluation(stream, 8, "e-new", "new", "pending")  # dispatched
        await _until(lambda: watch.job_index("new") == 8)
        with watch.following("new"):
            evaluation, index = await follower._paced_read(BlockingPacer(), read, "e-new", 0)
            assert (evaluation["Status"], index) == ("pending", 8)
            waiting = asyncio.create_task(
                follower._paced_read(BlockingPacer(), read, "e-new", index)
            )
            # The job changes (placed), its evaluation does not: the wait goes on, unread.
            stream.send_allocation(9, _allocation("n1", "new", "pending"))
            await _until(lambda: watch.job_index("new") == 9)
            for _ in range(5):  # the woken wait runs on and parks again
                await asyncio.sleep(0)
            assert not waiting.done()
            _send_evaluation(stream, 10, "e-new", "new", "complete", created=8)
            evaluation, index = await asyncio.wait_for(waiting, HANG)
    assert (evaluation["Status"], index) == ("complete", 10)
    assert reads == []


def _new_job_follower(watch: JobChangeWatch, created_index: int) -> JobFollower:
    """The follower of job ``new``, dispatched with evaluation ``e-new`` at ``created_index``."""
    return JobFollower(
        hook=None,
        job_id="new",
        dispatch_eval_id="e-new",
        created_index=created_index,
        changes=watch,
    )


def _recording(reads: list[str]):
    async def read(target: str, index: int | None = None, wait: float | None = None):
        reads.append(target)
        return [{"read": target}], 99

    return read


@pytest.fixture
def no_catch_up_bound(monkeypatch):
    """A catch-up that only its wake-up can end: a missing one hangs the test until HANG."""
    monkeypatch.setattr("airflow_provider_nomad.nomad.follow.CATCH_UP_WAIT", 10 * HANG)


async def test_a_first_look_before_the_stream_caught_up_waits_for_the_dispatch(
    no_catch_up_bound,
):
    # A busy loop handles the stream's batches after the trigger arrived: the follower waits
    # for the batch of its job's creation instead of reading what it is about to bring.
    stream = _Stream()
    _hook, watch = _watch_on(stream)
    follower = _new_job_follower(watch, created_index=8)
    reads: list[str] = []
    with watch.following("other"):  # keeps the stream open
        stream.send_allocation(5, _allocation("o1", "other", "running"))  # the first batch
        await _until(lambda: watch._index == 6)
        with watch.following("new"):
            look = asyncio.create_task(
                follower._paced_read(BlockingPacer(), _recording(reads), "new", 0)
            )
            await _until(lambda: watch._catching_up)  # it waits for the stream
            assert not look.done()  # which has not reached index 8 yet
            _send_evaluation(stream, 8, "e-new", "new", "pending")  # the dispatch
            stream.send_allocation(9, _allocation("n1", "new", "pending"))
            allocs, index = await asyncio.wait_for(look, HANG)
    assert reads == []
    # From the events alone: the dispatch and the placement queued behind it.
    assert ([a["ID"] for a in allocs], index) == (["n1"], 9)


async def test_a_dispatch_before_the_connection_is_read_without_waiting(no_catch_up_bound):
    stream = _Stream()
    _hook, watch = _watch_on(stream)
    follower = _new_job_follower(watch, created_index=8)
    reads: list[str] = []
    with watch.following("other"):
        stream.send_allocation(10, _allocation("o1", "other", "running"))  # first batch: past 8
        await _until(lambda: watch._index == 11)
        with watch.following("new"):
            read = _recording(reads)
            answer = await asyncio.wait_for(
                follower._paced_read(BlockingPacer(), read, "new", 0), HANG
            )
    assert answer == ([{"read": "new"}], 99)
    assert reads == ["new"]


async def test_the_connection_s_first_batch_ends_a_catch_up_it_shows_hopeless(no_catch_up_bound):
    # The stream opened with a heartbeat; its first batch, about another job, starts past the
    # dispatch: the dispatch fell out of Nomad's buffer and will never come, so read.
    stream = _Stream()
    _hook, watch = _watch_on(stream)
    follower = _new_job_follower(watch, created_index=8)
    reads: list[str] = []
    with watch.following("other"), watch.following("new"):
        stream.send()  # connected, no batch yet
        look = asyncio.create_task(
            follower._paced_read(BlockingPacer(), _recording(reads), "new", 0)
        )
        await _until(lambda: watch._catching_up)  # it waits for the stream
        assert not look.done()  # where the connection starts is not known yet
        stream.send_allocation(12, _allocation("o1", "other", "running"))
        await asyncio.wait_for(look, HANG)
    assert reads == ["new"]


async def test_a_reconnection_past_the_dispatch_is_known_at_once_never_to_bring_it(
    no_catch_up_bound,
):
    # The stream resumed after index 10 and opened with a heartbeat: Nomad starts a stream at
    # or after the index asked for, so a dispatch at 8 will not come; read at once.
    first, second = _Stream(), _Stream()
    _hook, watch = _watch_on(first, second)
    follower = _new_job_follower(watch, created_index=8)
    reads: list[str] = []
    with watch.following("other"):
        first.send_allocation(10, _allocation("o1", "other", "running"))
        await _until(lambda: watch._index == 11)
        first.lines.put_nowait(None)  # cut: reconnects from 11
        second.send()  # connected, no batch yet
        await _until(lambda: watch._generation == 2)
        with watch.following("new"):
            look = follower._paced_read(BlockingPacer(), _recording(reads), "new", 0)
            await asyncio.wait_for(look, HANG)
    assert reads == ["new"]


async def test_the_stream_stays_open_after_the_last_follower_for_the_next_task_s_job():
    # A DAG's next task dispatches, then defers, seconds after the one before ended.
    stream = _Stream()
    hook, watch = _watch_on(stream)
    with watch.following("first"):
        stream.send_allocation(5, _allocation("f1", "first", "complete"))  # the first batch
        await _until(lambda: watch._index == 6)
    streaming = watch._task
    _send_evaluation(stream, 8, "e-next", "next", "pending")  # dispatched while lingering
    stream.send_allocation(9, _allocation("n1", "next", "running"))
    await _until(lambda: watch._index == 10)
    with watch.following("next"):
        mark = watch.mark()
        assert watch._task is streaming and not streaming.done()
        assert hook.opened_from == [0]  # the same connection: no new stream, no replay
        # It saw the dispatch: the next job's follower reads nothing.
        assert watch.seen_whole("next", "e-next", mark)
        changed, last = watch.allocations_after("next", 0, mark)
        assert ([a["ID"] for a in changed], last) == (["n1"], 9)


async def test_the_stream_closes_once_the_linger_passed_without_a_follower():
    stopped = asyncio.Event()
    hook = _Hook()
    hook.streams.put_nowait(_Stream())
    watch = JobChangeWatch(lambda: hook, on_idle=lambda w: stopped.set(), linger=0.01)
    with watch.following("a"):
        await _until(lambda: hook.opened_from)
        streaming = watch._task
    assert not stopped.is_set()  # not before the linger
    await asyncio.wait_for(stopped.wait(), HANG)
    assert watch._task is None
    await asyncio.wait_for(asyncio.gather(streaming, return_exceptions=True), HANG)
    assert streaming.cancelled()


async def test_a_follower_arriving_while_the_stream_lingers_cancels_its_stop():
    stops: list[JobChangeWatch] = []
    hook = _Hook()
    hook.streams.put_nowait(_Stream())
    watch = JobChangeWatch(lambda: hook, on_idle=stops.append, linger=HANG)
    with watch.following("a"):
        await _until(lambda: hook.opened_from)
    first_stop = watch._idle_stop
    with watch.following("b"):
        assert first_stop.cancelled()
        assert watch._idle_stop is None
    # Left again: the stop is scheduled anew, from the last follower's leaving.
    assert watch._idle_stop is not None and not watch._idle_stop.cancelled()
    assert stops == [] and hook.opened_from == [0]


async def test_no_linger_stops_the_stream_with_its_last_follower():
    stops: list[JobChangeWatch] = []
    hook = _Hook()
    hook.streams.put_nowait(_Stream())
    watch = JobChangeWatch(lambda: hook, on_idle=stops.append, linger=0)
    with watch.following("a"):
        await _until(lambda: hook.opened_from)
        streaming = watch._task
    assert stops == [watch] and watch._task is None
    await asyncio.wait_for(asyncio.gather(streaming, return_exceptions=True), HANG)
    assert streaming.cancelled()


async def test_a_watch_stopped_after_its_linger_is_replaced_by_a_new_one():
    hook = _Hook()
    for _ in range(2):
        hook.streams.put_nowait(_Stream())
    first = watch_for("nomad_default", None, None, lambda: hook, linger=0.01)
    assert watch_for("nomad_default", None, None, lambda: hook, linger=0.01) is first
    with first.following("a"):
        await _until(lambda: hook.opened_from)
    await _until(lambda: first._task is None)  # the linger passed: stopped and forgotten
    second = watch_for("nomad_default", None, None, lambda: hook, linger=0.01)
    assert second is not first


async def test_a_stream_given_up_while_lingering_leaves_the_next_follower_a_new_watch():
    stops: list[JobChangeWatch] = []
    first = _Stream()
    hook = _Hook()
    hook.streams.put_nowait(first)
    hook.streams.put_nowait(NomadPermissionError(403, "Permission denied", "GET", "/e"))
    # A linger far past any wait here: only the give-up can forget the watch in time.
    watch = JobChangeWatch(lambda: hook, on_idle=stops.append, linger=10 * HANG)
    with watch.following("a"):
        first.send()
        await _until(lambda: watch._generation == 1)
    first.lines.put_nowait(None)  # the lingering stream breaks; Nomad refuses the reconnection
    await _until(lambda: stops)
    assert stops == [watch] and "HTTP 403" in watch.unavailable
    assert watch._idle_stop is None  # forgotten at once, not when the linger ends


async def test_a_watch_given_up_is_not_kept_after_its_last_follower():
    stops: list[JobChangeWatch] = []
    hook = _Hook()
    hook.streams.put_nowait(NomadPermissionError(403, "Permission denied", "GET", "/e"))
    watch = JobChangeWatch(lambda: hook, on_idle=stops.append, linger=HANG)
    with watch.following("a"):
        await _until(lambda: watch.unavailable)
    assert stops == [watch] and watch._idle_stop is None
