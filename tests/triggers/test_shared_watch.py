"""Triggers of one event loop wait through one Nomad event stream, against the emulator."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from nomad_testlib import batch_job, dispatch

from airflow_provider_nomad.hooks.nomad import NomadAsyncHook
from airflow_provider_nomad.nomad.outcome import JobResult
from airflow_provider_nomad.triggers.nomad import NomadJobEvent, NomadJobTrigger

STREAM = "GET /v1/event/stream"
ALLOCS = "GET /v1/job/:job_id/allocations"
HANG = 120  # seconds: a bound on waits that should end far sooner


@pytest.fixture
def alloc_reads(monkeypatch) -> Counter:
    """Allocation-list reads per job ID, whichever trigger makes them."""
    reads: Counter = Counter()
    read = NomadAsyncHook.get_job_allocations
    monkeypatch.setattr(NomadAsyncHook, "get_job_allocations", _counted(read, reads))
    return reads


def held_job(nomad_client, tmp_path, name: str) -> None:
    """A batch job whose dispatches run until ``<tmp_path>/<their meta "n">`` exists."""
    script = f"""
        import json, os, time
        n = os.environ["NOMAD_META_n"]
        while not os.path.exists(os.path.join({str(tmp_path)!r}, n)):
            time.sleep(0.02)
        print("done", n)
    """
    nomad_client.jobs.register_job({"Job": batch_job(name, script, meta_required=("n",))})


def start(nomad_client, name: str, n: int, **kwargs) -> tuple[NomadJobTrigger, asyncio.Task]:
    """Dispatch and follow, as the operator hands its trigger the dispatch's evaluation."""
    dispatched = dispatch(nomad_client, name, meta={"n": str(n)})
    return follow(dispatched, **kwargs)


def follow(dispatched: dict, **kwargs) -> tuple[NomadJobTrigger, asyncio.Task]:
    # The operator's own, just dispatched child: it hands its trigger where it was created.
    kwargs.setdefault("created_index", dispatched["EvalCreateIndex"])
    trigger = NomadJobTrigger(
        job_id=dispatched["DispatchedJobID"], dispatch_eval_id=dispatched["EvalID"], **kwargs
    )
    return trigger, asyncio.create_task(first_event(trigger))


@pytest.fixture
def state_reads(monkeypatch) -> Counter:
    """Reads of a job's state besides the stream, per job or evaluation ID read."""
    reads: Counter = Counter()
    for name in ("get_job_allocations", "get_evaluation", "get_job_evaluations"):
        monkeypatch.setattr(NomadAsyncHook, name, _counted(getattr(NomadAsyncHook, name), reads))
    return reads


def _counted(read, reads: Counter):
    async def counted(self, target, **kwargs):
        reads[target] += 1
        return await read(self, target, **kwargs)

    return counted


async def stream_saw(job_ids: list[str], follower_of: NomadJobTrigger) -> None:
    """Until the shared watch the trigger waits through has had an event of each job."""
    watch = follower_of._follower._changes
    await until(
        lambda: all(watch.job_index(job_id) for job_id in job_ids),
        "the stream never delivered the dispatches",
    )


async def first_event(trigger: NomadJobTrigger) -> NomadJobEvent:
    async for event in trigger.run():
        return NomadJobEvent.from_dict(event.payload)
    raise AssertionError("the trigger fired no event")


async def until(condition, failure: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG
    while not condition():
        assert loop.time() < deadline, failure
        await asyncio.sleep(0.02)


async def followers_saw_running(triggers: list[NomadJobTrigger]) -> None:
    """Until every follower has read its allocation running: it then waits for a change."""

    def running(trigger: NomadJobTrigger) -> bool:
        follower = trigger._follower
        allocs = follower.allocations if follower is not None else []
        return bool(allocs) and all(a["ClientStatus"] == "running" for a in allocs)

    await until(lambda: all(running(t) for t in triggers), "the followers never saw their jobs run")


async def opened_stream(nomad_client, tmp_path, name: str) -> tuple[NomadJobTrigger, asyncio.Task]:
    """A held job (see :func:`held_job`) and its first dispatch (``n`` 0), followed until it
    runs: the shared stream is open from then on."""
    held_job(nomad_client, tmp_path, name)
    first = start(nomad_client, name, 0)
    await followers_saw_running([first[0]])
    return first


async def test_followers_share_one_stream_and_read_only_their_own_changes(
    nomad_conn, nomad_client, tmp_path, state_reads
):
    control = nomad_conn.control
    first = await opened_stream(nomad_client, tmp_path, "shared")
    # Dispatched while the stream is open, and picked up once it delivered the dispatch (a
    # task defers after dispatching; its trigger arrives seconds later).
    dispatched = [dispatch(nomad_client, "shared", meta={"n": str(n)}) for n in range(1, 12)]
    await stream_saw([d["DispatchedJobID"] for d in dispatched], first[0])
    started = [first, *(follow(d) for d in dispatched)]
    children = [t.job_id for t, _ in started]
    await followers_saw_running([t for t, _ in started])
    before = dict(state_reads)

    # One job ends: its follower learns it from the events, no follower reads again.
    (tmp_path / "0").touch()
    event = await asyncio.wait_for(started[0][1], HANG)
    assert event.outcome.result is JobResult.SUCCEEDED
    assert dict(state_reads) == before

    for n in range(1, len(children)):
        (tmp_path / str(n)).touch()
    events = await asyncio.wait_for(asyncio.gather(*(t for _, t in started[1:])), HANG)
    assert all(e.outcome.result is JobResult.SUCCEEDED for e in events)
    assert control.request_counts()[STREAM] == 1
    # The stream delivered each later job's dispatch before its follower's first look: their
    # whole history (dispatched, placed, running, complete) came with the events, and none
    # read its job's allocations or evaluations.
    later = {d["DispatchedJobID"] for d in dispatched} | {d["EvalID"] for d in dispatched}
    assert not later & set(state_reads)
    # The first job's follower opened the stream: at most its allocations were read once (the
    # stream replays Nomad's buffer, which may or may not have delivered the dispatch yet).
    assert set(state_reads) <= {first[0].job_id}
    assert state_reads[first[0].job_id] <= 1


async def test_a_cut_stream_resumes_and_no_end_is_missed(
    nomad_conn, nomad_client, tmp_path, alloc_reads
):
    control = nomad_conn.control
    first = await opened_stream(nomad_client, tmp_path, "cut")
    dispatched = [dispatch(nomad_client, "cut", meta={"n": str(n)}) for n in range(1, 5)]
    await stream_saw([d["DispatchedJobID"] for d in dispatched], first[0])
    started = [first, *(follow(d) for d in dispatched)]
    children = [t.job_id for t, _ in started]
    await followers_saw_running([t for t, _ in started])

    # The reconnection waits while every job ends: their events happen with no stream open.
    control.inject_fault(route=STREAM, status=None, delay=1.0)
    control.cut_event_streams()
    for n in range(len(children)):
        (tmp_path / str(n)).touch()
    for child in children:
        await asyncio.to_thread(control.wait_job_status, child, "dead", timeout=HANG)
    events = await asyncio.wait_for(asyncio.gather(*(t for _, t in started)), HANG)
    assert all(e.outcome.result is JobResult.SUCCEEDED for e in events)
    assert control.request_counts()[STREAM] == 2
    # The new connection cannot vouch for what happened without one: each follower read its
    # allocations once, after the reconnection (its first look came from the events). The
    # first one's first look may have read too: it opened the stream.
    assert {alloc_reads[c] for c in children[1:]} == {1}
    assert 1 <= alloc_reads[children[0]] <= 2


async def test_a_job_dispatched_before_the_connection_is_read_once(
    nomad_conn, nomad_client, tmp_path, alloc_reads
):
    control = nomad_conn.control
    first, first_task = await opened_stream(nomad_client, tmp_path, "older")
    older = dispatch(nomad_client, "older", meta={"n": "1"})
    await stream_saw([older["DispatchedJobID"]], first)
    # A reconnection: the new connection resumes after the older job's dispatch.
    control.cut_event_streams()
    newer = dispatch(nomad_client, "older", meta={"n": "2"})
    await stream_saw([newer["DispatchedJobID"]], first)
    started = [follow(older), follow(newer)]
    await followers_saw_running([t for t, _ in started])
    for n in range(3):
        (tmp_path / str(n)).touch()
    events = await asyncio.wait_for(asyncio.gather(first_task, *(t for _, t in started)), HANG)
    assert all(e.outcome.result is JobResult.SUCCEEDED for e in events)
    # The older job's dispatch came before this connection: events cannot vouch for its
    # history, so its follower read its allocations. The newer one's came through the stream.
    assert alloc_reads[older["DispatchedJobID"]] == 1
    assert alloc_reads[newer["DispatchedJobID"]] == 0


async def test_a_refused_stream_falls_back_to_blocking_queries(
    nomad_conn, nomad_client, tmp_path, capfd
):
    held_job(nomad_client, tmp_path, "refused")
    control = nomad_conn.control
    control.inject_fault(route=STREAM, status=403, body="Permission denied", count=None)
    (tmp_path / "0").touch()
    (tmp_path / "1").touch()
    started = [start(nomad_client, "refused", n) for n in range(2)]
    events = await asyncio.wait_for(asyncio.gather(*(t for _, t in started)), HANG)
    assert all(e.outcome.result is JobResult.SUCCEEDED for e in events)
    assert control.request_counts()[STREAM] == 1
    log = capfd.readouterr().out
    fallbacks = [line for line in log.splitlines() if "own blocking queries" in line]
    assert len(fallbacks) == 2  # one line per trigger
    assert all("HTTP 403" in line for line in fallbacks)


async def test_shared_watch_off_uses_blocking_queries_only(nomad_conn, nomad_client, tmp_path):
    held_job(nomad_client, tmp_path, "alone")
    (tmp_path / "0").touch()
    _, task = start(nomad_client, "alone", 0, shared_watch=False)
    event = await asyncio.wait_for(task, HANG)
    assert event.outcome.result is JobResult.SUCCEEDED
    assert STREAM not in nomad_conn.control.request_counts()


@pytest.mark.parametrize("shared_watch", [True, False], ids=["shared", "own-queries"])
async def test_a_job_already_running_costs_no_evaluation_read(
    nomad_conn, nomad_client, tmp_path, monkeypatch, shared_watch
):
    # A trigger picking up a running batch looks at its allocations first: placed, so the
    # dispatch evaluation has nothing left to say.
    held_job(nomad_client, tmp_path, "placed")
    dispatched = dispatch(nomad_client, "placed", meta={"n": "0"})
    child = dispatched["DispatchedJobID"]
    await asyncio.to_thread(
        nomad_conn.control.wait_allocations,
        child,
        lambda stubs: bool(stubs) and all(a["ClientStatus"] == "running" for a in stubs),
        timeout=HANG,
    )
    evaluation_reads: list[str] = []
    read = NomadAsyncHook.get_evaluation

    async def counted(self, eval_id, **kwargs):
        evaluation_reads.append(eval_id)
        return await read(self, eval_id, **kwargs)

    monkeypatch.setattr(NomadAsyncHook, "get_evaluation", counted)
    trigger = NomadJobTrigger(
        job_id=child, dispatch_eval_id=dispatched["EvalID"], shared_watch=shared_watch
    )
    task = asyncio.create_task(first_event(trigger))
    await followers_saw_running([trigger])
    (tmp_path / "0").touch()
    event = await asyncio.wait_for(task, HANG)
    assert event.outcome.result is JobResult.SUCCEEDED
    assert evaluation_reads == []


async def test_a_placement_failure_comes_with_the_events(
    nomad_conn, nomad_client, tmp_path, state_reads
):
    first = await opened_stream(nomad_client, tmp_path, "opener")
    nomad_client.jobs.register_job({"Job": batch_job("huge", "print(1)", memory_mb=10**6)})
    dispatched = dispatch(nomad_client, "huge")
    await stream_saw([dispatched["DispatchedJobID"]], first[0])
    _, task = follow(dispatched)
    event = await asyncio.wait_for(task, HANG)
    # The evaluation's failure, with its reasons, as its event carried it.
    assert event.outcome.result is JobResult.PLACEMENT_FAILED
    assert "memory exhausted" in event.outcome.reason
    assert not {dispatched["DispatchedJobID"], dispatched["EvalID"]} & set(state_reads)
    (tmp_path / "0").touch()
    await asyncio.wait_for(first[1], HANG)


async def test_a_job_placed_after_its_first_look_needs_no_read(
    nomad_conn, nomad_client, tmp_path, state_reads
):
    control = nomad_conn.control
    first = await opened_stream(nomad_client, tmp_path, "late")
    control.hold_scheduler()
    dispatched = dispatch(nomad_client, "late", meta={"n": "1"})
    await stream_saw([dispatched["DispatchedJobID"]], first[0])
    trigger, task = follow(dispatched)
    # Parked on its dispatch evaluation, still pending: the scheduler is held.
    await until(
        lambda: trigger._follower is not None and dispatched["EvalID"] in trigger._follower._marks,
        "the follower never waited for its evaluation",
    )
    control.release_scheduler()
    await followers_saw_running([trigger])
    (tmp_path / "0").touch()
    (tmp_path / "1").touch()
    events = await asyncio.wait_for(asyncio.gather(first[1], task), HANG)
    assert all(e.outcome.result is JobResult.SUCCEEDED for e in events)
    # The evaluation's progress and the placement came with the events.
    assert not {dispatched["DispatchedJobID"], dispatched["EvalID"]} & set(state_reads)


async def test_a_job_not_known_to_be_new_is_read(nomad_conn, nomad_client, tmp_path, alloc_reads):
    # A job registered again under an ID Nomad knows has allocations older than its
    # registration's evaluation: with no ``created_index`` the events cannot vouch for its
    # history.
    first = await opened_stream(nomad_client, tmp_path, "known")
    dispatched = dispatch(nomad_client, "known", meta={"n": "1"})
    await stream_saw([dispatched["DispatchedJobID"]], first[0])
    _, task = follow(dispatched, created_index=None)
    (tmp_path / "0").touch()
    (tmp_path / "1").touch()
    events = await asyncio.wait_for(asyncio.gather(first[1], task), HANG)
    assert all(e.outcome.result is JobResult.SUCCEEDED for e in events)
    assert alloc_reads[dispatched["DispatchedJobID"]] == 1


@pytest.mark.parametrize("linger", [None, "0"], ids=["lingering", "closed-with-the-last"])
async def test_the_next_task_s_trigger_finds_the_stream_still_open(
    nomad_conn, nomad_client, tmp_path, monkeypatch, state_reads, linger
):
    if linger is not None:
        monkeypatch.setenv("AIRFLOW__NOMAD_TRIGGERER__WATCH_LINGER", linger)
    control = nomad_conn.control
    held_job(nomad_client, tmp_path, "chain")
    (tmp_path / "0").touch()
    _, first_task = start(nomad_client, "chain", 0)
    assert (await asyncio.wait_for(first_task, HANG)).outcome.result is JobResult.SUCCEEDED
    # The next task dispatches once the first ended; its trigger comes after a busy spell whose
    # writes push the dispatch out of Nomad's replay buffer (100 batches).
    dispatched = dispatch(nomad_client, "chain", meta={"n": "1"})
    for n in range(101):
        nomad_client.jobs.register_job({"Job": batch_job(f"busy-{n}", "print(1)")})
    (tmp_path / "1").touch()
    _, task = follow(dispatched)
    assert (await asyncio.wait_for(task, HANG)).outcome.result is JobResult.SUCCEEDED
    child = dispatched["DispatchedJobID"]
    if linger is None:
        # The stream stayed open: it saw the dispatch and all after, and nothing was read.
        assert control.request_counts()[STREAM] == 1
        assert not {child, dispatched["EvalID"]} & set(state_reads)
    else:
        # A new connection replays only the buffer's last batches: the follower had to read.
        assert control.request_counts()[STREAM] == 2
        assert state_reads[child] >= 1
