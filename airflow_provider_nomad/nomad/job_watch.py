"""One event stream per event loop and Nomad scope, waking the followers of the jobs that changed.

Each follower waiting with its own blocking queries costs a request (and a connection) per job
and per evaluation it watches. A :class:`JobChangeWatch` reads Nomad's event stream once
(``GET /v1/event/stream?topic=Allocation&topic=Evaluation``) for every follower of one event
loop, connection, namespace and region, records the last event index per job ID and wakes the
followers of that job.

An allocation event carries the whole allocation as it was written (``Payload.Allocation``,
without its job), an evaluation event the whole evaluation. The watch keeps the last event of
each allocation and evaluation of each job, so a follower that read its job's allocations at
some index can bring its list up to date from the events after that index instead of reading it
again. Within one connection Nomad delivers every batch after the first in order, so a job
whose dispatch evaluation was created after that first batch needs no read at all: the events
hold its whole history. The watch therefore also keeps the last :data:`RECENT_JOBS` jobs created
during the connection that nobody follows yet (a task dispatches, then defers: its trigger
arrives seconds later). A follower
reads whenever events cannot tell: a job older than the connection, and after any
(re)connection. A follower that knows where its job was created (the dispatch's
``EvalCreateIndex``) first lets the watch catch up to that index: a busy event loop may handle
the stream's batches later than the trigger arrives, and reading then would fetch what the
next batch is about to bring.

Nomad keeps a bounded replay buffer (``EventBufferSize``): a stream that reconnects from its last
index may have missed events that fell out of it. So every (re)connection starts a new
*generation* and wakes every waiter once, which re-reads. A stream Nomad refuses (403 without
``read-job``, 404/501 from an older server or a proxy) or that keeps failing makes the watch
*unavailable*: waiters get :class:`WatchUnavailable` and fall back to blocking queries.

The stream closes :data:`LINGER` seconds after its last follower left, unless another arrives
meanwhile: the next task of a DAG run defers within seconds of the one before.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from airflow_provider_nomad.exceptions import (
    NomadApiError,
    NomadConnectionError,
    NomadTransientError,
)

log = logging.getLogger(__name__)

#: Failed connections in a row (without a byte received) before giving the watch up.
MAX_FAILURES = 5
#: Statuses that say this server or proxy will never stream events to this token.
_UNSUPPORTED = frozenset({403, 404, 405, 501})
#: Jobs whose followers are woken per pass of the event loop when the stream (re)connects or
#: is given up. Each woken follower runs on to its read before the loop serves anything else:
#: 10,000 woken at once made one pass of 5.5 s, during which no other trigger was served.
WAKE_SLICE = 100
#: Jobs dispatched (or registered) during the connection that no follower follows yet, the most
#: recently changed: a trigger arriving within that many new jobs of its own reads nothing.
#: A batch job's record holds its evaluation and its allocation or two: a few KB.
RECENT_JOBS = 2000
#: Longest a follower's first look waits for the stream to deliver its job's creation before it
#: reads instead. The batch is due at once on a healthy stream; a loop so busy that the watch
#: is further behind than this is better served by one read than by a longer wait.
CATCH_UP_WAIT = 30.0
#: Seconds the stream stays open after its last follower left. In a nightly run the next task
#: dispatches, then defers, seconds after one ends: a stream still open has seen that dispatch
#: and its follower reads nothing, where a new connection would only know the replay buffer's
#: last batches (and read, on a busy cluster). ``[nomad_triggerer] watch_linger`` sets it.
LINGER = 60.0


#: The fields of Nomad's ``AllocListStub`` (what ``GET /v1/job/:id/allocations`` lists) that an
#: allocation event's allocation carries too; ``JobType`` and ``JobVersion`` come from the job,
#: which events leave out, and ``AllocatedResources`` is listed only on request.
ALLOC_STUB_FIELDS = (
    "ID",
    "EvalID",
    "Name",
    "Namespace",
    "NodeID",
    "NodeName",
    "JobID",
    "TaskGroup",
    "DesiredStatus",
    "DesiredDescription",
    "ClientStatus",
    "ClientDescription",
    "DesiredTransition",
    "TaskStates",
    "DeploymentStatus",
    "FollowupEvalID",
    "NextAllocation",
    "RescheduleTracker",
    "PreemptedAllocations",
    "PreemptedByAllocation",
    "CreateIndex",
    "ModifyIndex",
    "CreateTime",
    "ModifyTime",
)
#: The fields of an evaluation a follower judges by (``nomad/outcome.py``); an evaluation event
#: carries the whole evaluation, as ``GET /v1/evaluation/:id`` returns it.
EVAL_FIELDS = (
    "ID",
    "Namespace",
    "JobID",
    "Type",
    "TriggeredBy",
    "Status",
    "StatusDescription",
    "FailedTGAllocs",
    "BlockedEval",
    "NextEval",
    "PreviousEval",
    "QueuedAllocations",
    "CreateIndex",
    "ModifyIndex",
    "CreateTime",
    "ModifyTime",
)


class WatchUnavailable(Exception):
    """The event stream cannot be used here: wait with blocking queries instead."""


def job_of(event: Mapping[str, Any]) -> str | None:
    """The job an allocation or evaluation event is about (``nomad/state/events.go``)."""
    payload = event.get("Payload") or {}
    obj = payload.get(event.get("Topic") or "") or {}
    job_id = obj.get("JobID") if isinstance(obj, Mapping) else None
    if job_id:
        return job_id
    keys = event.get("FilterKeys") or []
    return keys[0] if keys else None


def _payload_object(event: Mapping[str, Any], topic: str, fields: tuple[str, ...]) -> Any:
    """The event's object if it is of ``topic``, cut down to ``fields``; else ``None``."""
    if event.get("Topic") != topic:
        return None
    obj = (event.get("Payload") or {}).get(topic)
    if not isinstance(obj, Mapping) or not obj.get("ID"):
        return None
    return {name: obj[name] for name in fields if name in obj}


def _listed_allocation(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """An allocation event's allocation, shaped as the job's allocation list shows it."""
    return _payload_object(event, "Allocation", ALLOC_STUB_FIELDS)


def _evaluation(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """An evaluation event's evaluation, cut down to what a follower judges by."""
    return _payload_object(event, "Evaluation", EVAL_FIELDS)


@dataclass
class _JobEvents:
    """What the stream said of one job since ``since``, the index of the first batch kept."""

    since: int
    index: int = 0
    # ID -> (index of its last event, the object then).
    allocs: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    evals: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)


class JobChangeWatch:
    """The shared watch of one scope. Get it with :func:`watch_for`; event-loop thread only.

    :param hook_factory: builds the one ``NomadAsyncHook`` the stream uses.
    :param on_idle: called with the watch once it stopped (the stream closed for good).
    :param linger: seconds the stream stays open after the last follower left; 0 closes it
        with the last follower.
    """

    def __init__(self, hook_factory: Any, on_idle: Any = None, linger: float = LINGER) -> None:
        self._hook_factory = hook_factory
        self._on_idle = on_idle
        self._linger = max(0.0, linger)
        # The stop scheduled when the last follower left; a new follower cancels it.
        self._idle_stop: asyncio.TimerHandle | None = None
        # The followed jobs' events, and apart the recent jobs nobody follows (oldest first).
        self._followed: dict[str, _JobEvents] = {}
        self._recent: OrderedDict[str, _JobEvents] = OrderedDict()
        self._interest: dict[str, int] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._generation = 0
        # The first batch of the current connection: every batch since has been received.
        self._generation_start: int | None = None
        self._index = 0
        # Followers waiting for the stream to pass an index: (index, order, job ID), a heap.
        self._catching_up: list[tuple[int, int, str]] = []
        self._order = itertools.count()
        self._task: asyncio.Task | None = None
        self.unavailable: str | None = None
        self.connections = 0

    # -- followers --------------------------------------------------------------------------

    @contextlib.contextmanager
    def following(self, job_id: str) -> Iterator[JobChangeWatch]:
        """Keep the job's index while a follower of it lives; stop the watch :data:`LINGER`
        seconds after the last, unless another follower came meanwhile."""
        if self._idle_stop is not None:
            self._idle_stop.cancel()
            self._idle_stop = None
        self._interest[job_id] = self._interest.get(job_id, 0) + 1
        self._wakeups.setdefault(job_id, asyncio.Event())
        if job_id not in self._followed and job_id in self._recent:
            self._followed[job_id] = self._recent.pop(job_id)
        if self._task is None and self.unavailable is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield self
        finally:
            self._interest[job_id] -= 1
            if not self._interest[job_id]:
                del self._interest[job_id]
                self._followed.pop(job_id, None)
                self._wakeups.pop(job_id, None)
            if not self._interest:
                self._stop_when_idle()

    async def connected(self, job_id: str, timeout: float) -> None:
        """Until the stream is open (or given up, or ``timeout``): a read made before would be
        made again at the connection, since what happened before it is unknown to the watch."""
        await self._woken_until(
            job_id, timeout, lambda: self._generation != 0 or self.unavailable is not None
        )

    async def caught_up(self, job_id: str, index: int, mark: int, timeout: float) -> None:
        """Until the stream is past ``index`` (a job's creation) in the connection ``mark``
        names: it delivered that batch, or shows it never will (the connection resumed, or
        replayed from its first batch, after it); or until it reconnected, was given up, or
        ``timeout`` passed.

        Then :meth:`seen_whole` tells whether the events hold the job's whole history. Nothing
        is waited for once the stream is past ``index``: a follower arriving late costs nothing.
        """
        if not self._caught_up(index, mark):
            heapq.heappush(self._catching_up, (index, next(self._order), job_id))
        await self._woken_until(job_id, timeout, lambda: self._caught_up(index, mark))

    def _caught_up(self, index: int, mark: int) -> bool:
        if self.unavailable is not None or self._generation != mark:
            return True
        # One past the last batch handled, or where a reconnection resumed: Nomad starts a
        # stream at or after the index asked for, so a batch before it will not come. (A first
        # connection asks for 0 and replays its buffer: known only from its first batch.)
        return self._index > index

    def mark(self) -> int:
        """Take before a state read, pass to :meth:`wait_changed` after it."""
        if self.unavailable is not None:
            raise WatchUnavailable(self.unavailable)
        return self._generation

    async def wait_changed(self, job_id: str, index: int, mark: int, timeout: float) -> None:
        """Return once ``job_id`` changed after ``index``, the stream (re)connected since
        ``mark``, or ``timeout`` passed; :class:`WatchUnavailable` if the stream is given up."""
        await self._woken_until(
            job_id,
            timeout,
            lambda: (
                self.unavailable is not None
                or self._generation != mark
                or self.job_index(job_id) > index
            ),
        )
        if self.unavailable is not None:
            raise WatchUnavailable(self.unavailable)

    async def _woken_until(self, job_id: str, timeout: float, done: Callable[[], bool]) -> None:
        """Wait on the job's wake-ups until ``done()`` holds or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        while not done():
            left = until - loop.time()
            if left <= 0:
                return
            wakeup = self._wakeups.setdefault(job_id, asyncio.Event())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wakeup.wait(), left)

    def job_index(self, job_id: str) -> int:
        """The index of the last event seen of a job, followed or recent (0: none)."""
        record = self._followed.get(job_id) or self._recent.get(job_id)
        return record.index if record is not None else 0

    def seen_whole(self, job_id: str, dispatch_eval_id: str, mark: int) -> bool:
        """Whether the events since ``mark`` hold all that happened to ``job_id``: the stream
        delivered its dispatch (its first evaluation's creation) in this connection.

        Nothing of a job comes before its first evaluation: the dispatch writes both at once.
        """
        record = self._vouching(job_id, mark)
        if record is None or self._generation_start is None:
            return False
        dispatch = record.evals.get(dispatch_eval_id)
        created = dispatch[1].get("CreateIndex") if dispatch is not None else None
        # The record began with the dispatch itself (not with a later event, after an older
        # record was dropped), and within this connection (not before a gap).
        return created == record.since and created >= self._generation_start

    def allocations_after(
        self, job_id: str, index: int, mark: int
    ) -> tuple[list[dict[str, Any]], int] | None:
        """The allocations of ``job_id`` that events changed after ``index``, and the job's
        last event index; ``None`` where only a read can tell: the stream (re)connected since
        ``mark`` (events may have been lost meanwhile), or nothing happened after ``index``.

        :param index: the ``X-Nomad-Index`` of the follower's last read of the allocations,
            or the index this method returned since: an event at or below it is in the list.
        """
        record = self._vouching(job_id, mark)
        if record is None or record.index <= index:
            return None
        return [alloc for at, alloc in record.allocs.values() if at > index], record.index

    def evaluation_after(
        self, job_id: str, eval_id: str, index: int, mark: int
    ) -> tuple[dict[str, Any], int] | None:
        """The evaluation as its last event after ``index`` showed it, with that event's
        index; ``None`` if it had none since (or the stream reconnected since ``mark``)."""
        record = self._vouching(job_id, mark)
        last = record.evals.get(eval_id) if record is not None else None
        if last is None or last[0] <= index:
            return None
        return last[1], last[0]

    def _vouching(self, job_id: str, mark: int) -> _JobEvents | None:
        """The followed job's record, if its events are complete since ``mark``: the stream is
        still the connection ``mark`` names (and not given up)."""
        if self.unavailable is not None or self._generation != mark:
            return None
        return self._followed.get(job_id)

    # -- the stream -------------------------------------------------------------------------

    def _wake(self, job_id: str) -> None:
        wakeup = self._wakeups.get(job_id)
        if wakeup is not None:
            wakeup.set()
            self._wakeups[job_id] = asyncio.Event()

    def _wake_all(self) -> None:
        """Wake every follower, :data:`WAKE_SLICE` jobs per pass of the event loop."""
        woken = list(self._wakeups.values())
        for job_id in self._wakeups:
            self._wakeups[job_id] = asyncio.Event()
        self._wake_slices(woken, 0)

    def _wake_slices(self, wakeups: list[asyncio.Event], start: int) -> None:
        end = start + WAKE_SLICE
        for wakeup in wakeups[start:end]:
            wakeup.set()
        if end < len(wakeups):
            # The next slice on the next pass, once the followers just woken (and whatever
            # else was ready meanwhile) have run.
            asyncio.get_running_loop().call_soon(self._wake_slices, wakeups, end)

    def _stop_when_idle(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a follower closed outside its loop (a generator collected late)
            loop = None
        # A watch given up lingers for nothing: the next trigger gets a new one, which tries again.
        if loop is None or not self._linger or self.unavailable is not None:
            self._stop()
        else:
            self._idle_stop = loop.call_later(self._linger, self._stop)

    def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        self._forget()

    def _forget(self) -> None:
        """Out of :func:`watch_for`'s hands: the next follower of this scope gets a new watch."""
        if self._idle_stop is not None:
            self._idle_stop.cancel()
            self._idle_stop = None
        if self._on_idle is not None:
            self._on_idle(self)

    def _give_up(self, reason: str) -> None:
        self.unavailable = reason
        self._wake_all()
        if self._idle_stop is not None:
            # Given up while lingering: no follower to send to blocking queries, and the next
            # should try the stream anew. The stream's task ends by itself.
            self._forget()

    async def _run(self) -> None:
        try:
            await self._stream_forever()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the connection cannot be read, a bug: never strand waiters
            self._give_up(f"the event stream stopped: {exc!r}")

    async def _stream_forever(self) -> None:
        failures = 0
        async with self._hook_factory() as hook:
            while True:
                try:
                    received = await self._follow(hook)
                except NomadTransientError as exc:
                    received, error = False, exc
                except NomadApiError as exc:
                    if exc.status in _UNSUPPORTED:
                        self._give_up(f"Nomad refused the event stream (HTTP {exc.status})")
                        return
                    received, error = False, exc
                except (NomadConnectionError, httpx.TransportError, OSError, ValueError) as exc:
                    # A connection cut mid-stream, or a line cut short (ValueError from json).
                    received, error = False, exc
                else:
                    error = None
                failures = 0 if received else failures + 1
                if failures >= MAX_FAILURES:
                    self._give_up(f"the event stream failed {failures} times in a row ({error})")
                    return
                log.info(
                    "Nomad event stream ended (%s); reconnecting from index %d",
                    error or "closed by the server",
                    self._index,
                )
                await asyncio.sleep(min(10.0, 0.2 * 2**failures))

    async def _follow(self, hook: Any) -> bool:
        """Read one connection of the stream; whether it delivered anything."""
        response = await hook.open_event_stream(self._index)
        self.connections += 1
        received = False
        try:
            async for line in response.aiter_lines():
                if not received:
                    # Connected: whatever happened while no stream was open is unknown.
                    received = True
                    self._generation += 1
                    self._generation_start = None
                    self._recent.clear()
                    self._wake_all()
                line = line.strip()
                if not line:
                    continue
                self._handle(json.loads(line))
        finally:
            await response.aclose()
        return received

    def _handle(self, batch: Mapping[str, Any]) -> None:
        index = batch.get("Index")
        if not isinstance(index, int):
            return  # a heartbeat: {}
        if self._generation_start is None:
            self._generation_start = index
        changed = set()
        for event in batch.get("Events") or []:
            job_id = job_of(event)
            if not job_id:
                continue
            evaluation = _evaluation(event)
            born = evaluation is not None and evaluation.get("CreateIndex") == index
            record = self._record(job_id, index, born)
            if record is None:
                continue  # a job nobody follows, whose creation came before: not kept
            record.index = max(record.index, index)
            if evaluation is not None:
                record.evals[evaluation["ID"]] = (index, evaluation)
            elif (alloc := _listed_allocation(event)) is not None:
                record.allocs[alloc["ID"]] = (index, alloc)
            if job_id in self._interest:
                changed.add(job_id)
        # Resume after this batch: a reconnect from ``index`` would replay it.
        self._index = max(self._index, index + 1)
        while self._catching_up and self._catching_up[0][0] < self._index:
            changed.add(heapq.heappop(self._catching_up)[2])
        for job_id in changed:
            self._wake(job_id)

    def _record(self, job_id: str, index: int, born: bool) -> _JobEvents | None:
        """The record to keep this event in, begun at ``index`` if new; ``None`` to drop it.

        A job nobody follows gets a record only from an evaluation created in this batch (a
        dispatch or a registration: ``born``), since only such a record can ever vouch for a
        job's whole history; the oldest is dropped past :data:`RECENT_JOBS`. So a long-lived
        job (a service, a system job on every node) is never kept for nothing.
        """
        record = self._followed.get(job_id)
        if record is not None:
            return record
        if job_id in self._interest:
            # Followed since before its first event here (``following`` moves a recent one).
            record = self._followed[job_id] = _JobEvents(since=index)
            return record
        record = self._recent.get(job_id)
        if record is not None:
            self._recent.move_to_end(job_id)
            return record
        if not born:
            return None
        record = self._recent[job_id] = _JobEvents(since=index)
        if len(self._recent) > RECENT_JOBS:
            self._recent.popitem(last=False)
        return record


_watches: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str | None, str | None], JobChangeWatch]
] = weakref.WeakKeyDictionary()


def watch_for(
    conn_id: str,
    namespace: str | None,
    region: str | None,
    hook_factory: Any,
    linger: float = LINGER,
) -> JobChangeWatch:
    """The running loop's watch for this scope, created on first use (with ``linger``)."""
    loop = asyncio.get_running_loop()
    scopes = _watches.setdefault(loop, {})
    key = (conn_id, namespace, region)
    watch = scopes.get(key)
    if watch is None:

        def forget(w: JobChangeWatch) -> None:
            if scopes.get(key) is w:
                del scopes[key]

        watch = JobChangeWatch(hook_factory, on_idle=forget, linger=linger)
        scopes[key] = watch
    return watch
