"""Following a dispatched job to its end while streaming its logs (async, shared by all paths).

The sync operator runs :class:`JobFollower` with ``asyncio.run`` on the worker, the trigger runs
it in the triggerer's event loop and the sensor runs it bounded by its poke interval: one
implementation of steps 4-6 of the design, so every path waits, streams and decides alike.

Waiting is event-driven: blocking queries (``index``/``wait``) on the job's allocations and, only
while they matter, on the dispatch or reschedule evaluations; or, given a shared
:class:`~airflow_provider_nomad.nomad.job_watch.JobChangeWatch`, plain reads of the same state
each time Nomad's event stream says the job changed. Nothing polls on a timer, and each of those
loops is paced (:mod:`~airflow_provider_nomad.blocking`) so a server that answers at once without
progress (no index header behind a proxy) is not asked in a busy loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from airflow_provider_nomad.blocking import BlockingPacer, next_index
from airflow_provider_nomad.exceptions import (
    NomadApiError,
    NomadConnectionError,
    NomadLogStreamError,
    NomadNotFoundError,
    NomadTransientError,
)
from airflow_provider_nomad.nomad.job_watch import CATCH_UP_WAIT, JobChangeWatch, WatchUnavailable
from airflow_provider_nomad.nomad.log_lines import LineAssembler, LogChunk, LogLine, LogStreamKey
from airflow_provider_nomad.nomad.log_reader_thread import BULK_READ_THRESHOLD, read_rest_in_thread
from airflow_provider_nomad.nomad.outcome import (
    JobOutcome,
    JobResult,
    assess,
    failed_without_followup,
)
from airflow_provider_nomad.nomad.states import (
    AllocClientStatus,
    EvalStatus,
    EvalTrigger,
    TaskStateName,
)

LOG_STREAMS = ("stdout", "stderr")
#: Nomad caps a blocking query's wait at 5 minutes.
MAX_BLOCKING_WAIT = 300.0
#: After the job ends, how long the log streams get to deliver their last bytes.
DEFAULT_DRAIN_TIMEOUT = 30.0
#: How long the cluster may stay unreachable (after the hook's own retries) before giving up.
DEFAULT_UNREACHABLE_LIMIT = 600.0

_NOT_STARTED_TIME = "0001-01-01T00:00:00Z"


class _Read(enum.Enum):
    """How one log request ended."""

    DATA = "data"  # the server closed the stream after sending bytes
    NOTHING = "nothing"  # closed (or not started yet) without new bytes
    FAILED = "failed"  # transient failure: try again from the same byte
    GONE = "gone"  # the allocation's logs are gone for good (GC, permission)


def _log_line_to(logger: logging.Logger) -> Callable[[LogLine], None]:
    def write(line: LogLine) -> None:
        logger.info("[%s] %s", line.key.label, line.text)

    return write


def _line_by_line(on_line: Callable[[LogLine], None]) -> Callable[[LogChunk], None]:
    def write(chunk: LogChunk) -> None:
        for line in chunk.lines():
            on_line(line)

    return write


class JobFollower:
    """Waits for a dispatched job to end, streaming its stdout/stderr as lines arrive.

    :param hook: an open :class:`~airflow_provider_nomad.hooks.nomad.NomadAsyncHook`.
    :param job_id: the dispatched child job's ID.
    :param dispatch_eval_id: the evaluation the dispatch created; without it a job that is
        never placed is noticed through its allocation list staying empty.
    :param created_index: ``dispatch_eval_id``'s ``CreateIndex``, for a job the request that
        created that evaluation also created (a dispatch, a new job ID's registration);
        ``None`` when the job may be older than that evaluation. With ``changes``, a job whose
        creation the stream delivered is then followed from the events alone: they are its
        whole history.
    :param offsets: byte offsets already emitted, by ``str(LogStreamKey)``, to resume from.
    :param on_line: where each complete log line goes (default: ``log.info``).
    :param on_chunk: where each block of complete lines goes, as bytes; given, it replaces
        ``on_line`` (for consumers that copy bytes, which a line at a time would slow down).
        Either callback is called in order for each log and never twice at once, but the rest
        of a big finished log is handed out from a worker thread: a callback that touches the
        event loop must go through ``loop.call_soon_threadsafe``.
    :param follow_logs: stream logs (default) or only wait.
    :param deadline: wall-clock time (``time.time()``) after which the follower gives up and
        returns a ``TIMED_OUT`` outcome; stopping the job is the caller's decision.
    :param alloc_selector: narrows the job's allocation list to the ones to follow (the sensor
        uses it for an allocation ID or a task group filter).
    :param allocs_index: the ``X-Nomad-Index`` of an earlier read, so a follower that picks up
        where another stopped (a sensor's next poke) blocks until something new happens.
    :param bulk_read_threshold: bytes after which the rest of a finished log is read in a
        worker thread (see :mod:`~airflow_provider_nomad.nomad.log_reader_thread`).
    :param on_written: called after each block of lines was handed out (from the thread that
        handed it out), so the caller can save :attr:`offsets` (a trigger's checkpoint).
    :param changes: a watch shared with other followers of the same Nomad scope: the follower
        waits for it to report a change of this job, then reads its state without blocking.
        Where the watch is unavailable, the follower uses its own blocking queries.
    """

    def __init__(
        self,
        hook: Any,
        job_id: str,
        *,
        dispatch_eval_id: str | None = None,
        created_index: int | None = None,
        offsets: Mapping[str, int] | None = None,
        on_line: Callable[[LogLine], None] | None = None,
        on_chunk: Callable[[LogChunk], None] | None = None,
        log: logging.Logger | None = None,
        follow_logs: bool = True,
        deadline: float | None = None,
        blocking_wait: float = MAX_BLOCKING_WAIT,
        drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
        unreachable_limit: float = DEFAULT_UNREACHABLE_LIMIT,
        alloc_selector: Callable[[list[Mapping[str, Any]]], list[Mapping[str, Any]]] | None = None,
        allocs_index: int = 0,
        bulk_read_threshold: int = BULK_READ_THRESHOLD,
        on_written: Callable[[], None] | None = None,
        changes: JobChangeWatch | None = None,
    ) -> None:
        self.hook = hook
        self.job_id = job_id
        self.dispatch_eval_id = dispatch_eval_id or None
        self.created_index = created_index
        self.log = log or logging.getLogger(__name__)
        self.on_chunk = on_chunk or _line_by_line(on_line or _log_line_to(self.log))
        self.follow_logs = follow_logs
        self.deadline = deadline
        self.blocking_wait = min(blocking_wait, MAX_BLOCKING_WAIT)
        self.drain_timeout = drain_timeout
        self.unreachable_limit = unreachable_limit
        self.alloc_selector = alloc_selector
        self.bulk_read_threshold = bulk_read_threshold
        self.on_written = on_written
        self._start_offsets = dict(offsets or {})
        self._assemblers: dict[LogStreamKey, LineAssembler] = {}
        self._streams: dict[LogStreamKey, asyncio.Task] = {}
        self._delivery = threading.Lock()
        self._handed_out: dict[str, int] = {}
        self._allocs: list[Mapping[str, Any]] = []
        # The job's allocations as last listed, before ``alloc_selector``, by ID.
        self._listed: dict[str, Mapping[str, Any]] = {}
        self._allocs_changed = asyncio.Event()
        self._allocs_index = allocs_index
        self._changes = changes
        # Per watched target (the job's allocations, an evaluation): the watch's generation
        # taken before its last read.
        self._marks: dict[str, int] = {}

    # -- public state ---------------------------------------------------------------------

    @property
    def offsets(self) -> dict[str, int]:
        """Bytes handed out so far per log, to carry across a triggerer restart."""
        # What ``_deliver`` published, not the assemblers' offsets: a bulk read's thread
        # advances those before it hands the lines out, and a checkpoint must never count
        # lines not yet logged. No lock: the event loop must not wait on that thread's writes.
        return {**self._start_offsets, **self._handed_out}

    @property
    def allocs_index(self) -> int:
        return self._allocs_index

    @property
    def allocations(self) -> list[Mapping[str, Any]]:
        return list(self._allocs)

    # -- the wait ---------------------------------------------------------------------------

    async def run(self) -> JobOutcome:
        """Follow the job to its end (or the deadline) and return its outcome."""
        try:
            with contextlib.ExitStack() as stack:
                if self._changes is not None:
                    stack.enter_context(self._changes.following(self.job_id))
                outcome = await self._wait_for_end()
            if outcome.result is not JobResult.TIMED_OUT:
                # Past the deadline the tasks still run: their streams would never drain.
                await self._drain_logs()
            outcome.stderr_tail = self._stderr_tail(outcome)
            return outcome
        finally:
            await self._cancel_streams()

    async def _wait_for_end(self) -> JobOutcome:
        evals: dict[str, Mapping[str, Any]] = {}
        eval_indexes: dict[str, int] = {}
        alloc_watch: asyncio.Task | None = None
        eval_watches: dict[str, asyncio.Task] = {}
        alloc_pacer = BlockingPacer()
        eval_pacers: dict[str, BlockingPacer] = {}
        first_failure: float | None = None
        # Failed allocations whose job evaluations were read since they failed.
        reschedule_checked: set[str] = set()
        # The allocations must be read again before the next judgement: an evaluation read
        # since may have placed what they do not show yet.
        allocs_stale = False

        async def read_or_back_off(read: Callable[[], Awaitable[Any]]) -> Any | None:
            # One plain read; on a transient failure, the loop's back-off and ``None``.
            nonlocal first_failure
            try:
                answer = await read()
            except (NomadTransientError, NomadConnectionError) as exc:
                first_failure = first_failure or time.monotonic()
                await self._back_off(exc, first_failure)
                return None
            first_failure = None
            return answer

        if self.dispatch_eval_id is None:
            # An adopted child or a job started elsewhere: find the evaluation that placed it,
            # so a placement failure is noticed instead of waiting on an empty allocation list.
            job_evals, _ = await self.hook.get_job_evaluations(self.job_id)
            evals.update({e["ID"]: e for e in job_evals})
            if not job_evals:
                # Nomad lists nothing for a job it does not know (200 []): make sure the job
                # exists, so a garbage-collected or mistyped job fails now (404) instead of
                # being waited for forever.
                await self.hook.get_job(self.job_id)
            else:
                first = min(job_evals, key=lambda e: e.get("CreateIndex", 0))
                self.dispatch_eval_id = first["ID"]
        if self._allocs_index == 0:
            # The allocations first, before any judgement: a job already placed (a trigger
            # picking up a running batch) needs no read of its dispatch evaluation at all.
            answer = None
            while answer is None:
                if self._time_left() == 0:
                    return self._timed_out()
                answer = await read_or_back_off(
                    lambda: self._paced_read(
                        alloc_pacer, self.hook.get_job_allocations, self.job_id, 0
                    )
                )
            self._update_allocs(*answer)
        try:
            while True:
                if allocs_stale:
                    if alloc_watch is not None:
                        # A blocking read in flight may have been answered before the news.
                        alloc_watch.cancel()
                        alloc_watch = None
                    answer = await read_or_back_off(
                        lambda: self.hook.get_job_allocations(self.job_id)
                    )
                    if answer is None:
                        continue
                    allocs_stale = False
                    self._update_allocs(*answer)
                assessment = assess(
                    self.job_id, self._allocs, evals, dispatch_eval_id=self.dispatch_eval_id
                )
                # Before the end check: a job that ended before this first look still has
                # its logs copied into the task log.
                self._start_log_streams()
                if assessment.done:
                    assert assessment.outcome is not None
                    unchecked = failed_without_followup(self._allocs) - reschedule_checked
                    if not unchecked:
                        return assessment.outcome
                    # Not the end yet if Nomad is about to reschedule it: the evaluation that
                    # would do it is written with the failure (``outcome`` says more).
                    answer = await read_or_back_off(
                        lambda: self.hook.get_job_evaluations(self.job_id)
                    )
                    if answer is None:
                        continue
                    reschedule_checked |= unchecked
                    evals.update({e["ID"]: e for e in answer[0]})
                    allocs_stale = True
                    continue
                if alloc_watch is None:
                    alloc_watch = asyncio.create_task(
                        self._paced_read(
                            alloc_pacer,
                            self.hook.get_job_allocations,
                            self.job_id,
                            self._allocs_index,
                        )
                    )
                for eval_id in assessment.watch_evals - eval_watches.keys():
                    eval_watches[eval_id] = asyncio.create_task(
                        self._paced_read(
                            eval_pacers.setdefault(eval_id, BlockingPacer()),
                            self.hook.get_evaluation,
                            eval_id,
                            eval_indexes.get(eval_id, 0),
                        )
                    )
                done, _ = await asyncio.wait(
                    [alloc_watch, *eval_watches.values()],
                    timeout=self._time_left(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not done:
                    return self._timed_out()
                for task in done:
                    try:
                        body, index = task.result()
                    except (NomadTransientError, NomadConnectionError) as exc:
                        first_failure = first_failure or time.monotonic()
                        await self._back_off(exc, first_failure)
                        body = None
                    else:
                        first_failure = None
                    if task is alloc_watch:
                        alloc_watch = None
                        if body is not None:
                            self._update_allocs(body, index)
                    else:
                        eval_id = next(e for e, t in eval_watches.items() if t is task)
                        del eval_watches[eval_id]
                        if body is not None:
                            evals[eval_id] = body
                            eval_indexes[eval_id] = next_index(eval_indexes.get(eval_id), index)
                            if (
                                body.get("TriggeredBy") == EvalTrigger.ALLOC_FAILURE
                                and body.get("Status") in EvalStatus.TERMINAL
                            ):
                                # Its replacement or follow-up was written before it ended.
                                allocs_stale = True
        finally:
            for task in [alloc_watch, *eval_watches.values()]:
                if task is not None:
                    task.cancel()

    async def _paced_read(
        self,
        pacer: BlockingPacer,
        read: Callable[..., Awaitable[tuple[Any, int]]],
        target: str,
        index: int,
    ) -> tuple[Any, int]:
        """One blocking read of ``target`` (the job's allocations, an evaluation), paced.

        The pause runs in the watch task, so the other watches' answers are acted on meanwhile.
        """
        await asyncio.sleep(pacer.delay())
        if self._changes is not None:
            try:
                return await self._read_on_change(read, target, index)
            except WatchUnavailable as exc:
                if self._changes is not None:  # the allocation and evaluation waits both see it
                    self.log.info(
                        "Waiting for Nomad job %s with its own blocking queries: %s",
                        self.job_id,
                        exc,
                    )
                    self._changes = None
        pacer.sending(index)
        body, answered = await read(target, index=index, wait=self._wait())
        pacer.answered(answered)
        return body, answered

    async def _read_on_change(
        self,
        read: Callable[..., Awaitable[tuple[Any, int]]],
        target: str,
        index: int,
    ) -> tuple[Any, int]:
        """Wait until the shared watch saw the job change after ``index``, then answer for
        ``target`` from the events where they tell, else read it.

        The first look does not wait. It reads unless the watch saw the job's dispatch: then
        the events are the job's whole history.
        """
        # Held here: the follower's other wait may give the watch up (``self._changes = None``)
        # while this one is parked; the watch then tells this one too, from ``mark()``.
        changes = self._changes
        assert changes is not None
        mark = self._marks.get(target)
        if mark is None:
            # Read once the stream is open, not before: the connection wakes every follower
            # that read earlier, to read again.
            await changes.connected(self.job_id, self._wait())
            mark = changes.mark()
            # A job re-registered under an old ID has allocations older than its evaluation:
            # only a new job's history starts with it.
            if self.created_index is not None and self.dispatch_eval_id:
                # A busy loop may not have handled the creation's batch yet: a read now would
                # fetch what that batch is about to bring.
                wait = min(self._wait(), CATCH_UP_WAIT)
                await changes.caught_up(self.job_id, self.created_index, mark, wait)
                if changes.seen_whole(self.job_id, self.dispatch_eval_id, mark):
                    answer = self._news(changes, target, 0, mark)
                    if answer is not None:
                        self._marks[target] = mark
                        return answer
        elif index > 0:
            waited_past = index
            while True:
                await changes.wait_changed(self.job_id, waited_past, mark, self._wait())
                answer = self._news(changes, target, index, mark)
                if answer is not None:
                    # Every change since the last read came with its object: no read needed.
                    # The mark stays: events are complete only since the connection it names.
                    return answer
                last = changes.job_index(self.job_id)
                if changes.mark() != mark or last <= waited_past:
                    break  # a reconnection, or the wait passed with no event: only a read tells
                # The job changed, not this evaluation: its events still tell all of it.
                waited_past = last
        # Taken before the read: a reconnect after it may have lost events this read missed.
        self._marks[target] = changes.mark()
        return await read(target)

    def _news(
        self, changes: JobChangeWatch, target: str, index: int, mark: int
    ) -> tuple[Any, int] | None:
        """What the watch's events say of ``target`` after ``index``, shaped as its read
        answers (the job's allocation list, an evaluation); ``None`` if they say nothing."""
        if target != self.job_id:
            return changes.evaluation_after(self.job_id, target, index, mark)
        news = changes.allocations_after(self.job_id, index, mark)
        if news is None:
            return None
        changed, at = news
        return list({**self._listed, **{a["ID"]: a for a in changed}}.values()), at

    def _update_allocs(self, allocs: list[Mapping[str, Any]], index: int) -> None:
        self._listed = {a["ID"]: a for a in allocs}
        if self.alloc_selector is not None:
            allocs = self.alloc_selector(allocs)
        # An index that goes backwards means the server state was restored or the leader
        # changed: start the blocking query afresh rather than wait on a future index.
        self._allocs_index = next_index(self._allocs_index, index)
        self._allocs = allocs
        self._allocs_changed.set()
        self._allocs_changed = asyncio.Event()

    async def _back_off(self, exc: Exception, first_failure: float) -> None:
        down_for = time.monotonic() - first_failure
        if down_for > self.unreachable_limit:
            raise exc
        delay = min(30.0, 1.0 + down_for / 4)
        self.log.warning(
            "Nomad did not answer while following %s (%s); trying again in %.0f s",
            self.job_id,
            exc,
            delay,
        )
        await asyncio.sleep(min(delay, self._time_left() or delay))

    def _wait(self) -> float:
        left = self._time_left()
        wait = self.blocking_wait if left is None else min(self.blocking_wait, left)
        return max(1.0, wait)

    def _time_left(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.time())

    def _timed_out(self) -> JobOutcome:
        return JobOutcome(
            result=JobResult.TIMED_OUT,
            job_id=self.job_id,
            reason="the task's execution_timeout passed before the job ended",
            alloc_ids=[a["ID"] for a in self._allocs],
        )

    # -- logs -------------------------------------------------------------------------------

    def _start_log_streams(self) -> None:
        if not self.follow_logs:
            return
        predecessor = {
            a["NextAllocation"]: a["ID"] for a in self._allocs if a.get("NextAllocation")
        }
        predecessor.update(
            {a["ID"]: a["PreviousAllocation"] for a in self._allocs if a.get("PreviousAllocation")}
        )
        # Oldest first, so a replacement allocation finds its predecessor's streams: its lines
        # come after those of the allocation it replaced, and a rescheduled batch reads in the
        # order it ran.
        for alloc in sorted(self._allocs, key=lambda a: a.get("CreateIndex", 0)):
            earlier = [
                t for k, t in self._streams.items() if k.alloc_id == predecessor.get(alloc["ID"])
            ]
            for task, state in (alloc.get("TaskStates") or {}).items():
                if not _task_started(state):
                    continue
                if state.get("State") == TaskStateName.DEAD and not any(
                    LogStreamKey(alloc["ID"], task, stream) in self._streams
                    for stream in LOG_STREAMS
                ):
                    # Nomad keeps no time per line: a log read after the end cannot be
                    # interleaved the way the lines were printed, so say how it is shown.
                    self.log.info(
                        "[%s] the task had ended before its logs were read: its stdout and "
                        "stderr follow one after the other, not interleaved as printed",
                        f"{task} {alloc['ID'][:8]}",
                    )
                for stream in LOG_STREAMS:
                    key = LogStreamKey(alloc["ID"], task, stream)
                    if key in self._streams:
                        continue
                    assembler = LineAssembler(key, self._start_offsets.get(str(key), 0))
                    self._assemblers[key] = assembler
                    self._streams[key] = asyncio.create_task(
                        self._follow_log_after(earlier, assembler)
                    )

    async def _follow_log_after(
        self, earlier: list[asyncio.Task], assembler: LineAssembler
    ) -> None:
        if earlier:
            await asyncio.gather(*earlier, return_exceptions=True)
        await self._follow_log(assembler)

    async def _follow_log(self, assembler: LineAssembler) -> None:
        """Stream one log while its task runs, then read what is left once it has ended.

        Nomad never ends a followed log stream by itself, not even once the task is dead:
        the follower cancels it when the allocation list says the task finished, then reads
        the rest with one plain (non-following) request from the byte it got to.
        """
        key = assembler.key
        failures = 0
        while not self._task_finished(key):
            reader = asyncio.create_task(self._read_log(assembler, follow=True))
            finished = asyncio.create_task(self._task_finished_event(key))
            try:
                done, _ = await asyncio.wait(
                    {reader, finished}, return_when=asyncio.FIRST_COMPLETED
                )
            except asyncio.CancelledError:
                # asyncio.wait leaves the tasks it waited on running: a cancelled follower
                # (a triggerer shutting down) must not keep streaming behind the new one.
                reader.cancel()
                finished.cancel()
                raise
            if finished in done:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                break
            finished.cancel()
            status = reader.result()
            if status is _Read.GONE:
                return
            failures = failures + 1 if status is _Read.FAILED else 0
            if status is not _Read.DATA:
                await self._pause_before_reconnect(key, failures)
        while True:
            status = await self._read_log(assembler, follow=False)
            if status is _Read.FAILED:
                failures += 1
                await self._pause_before_reconnect(key, failures)
                continue
            break
        self._deliver_now(assembler.flush())

    async def _read_log(self, assembler: LineAssembler, *, follow: bool) -> _Read:
        """One log request from the byte already received; how it ended."""
        key = assembler.key
        got_data = False
        received = 0
        big = False  # a finished log past the threshold: the rest goes to a reader thread
        frames = self.hook.stream_logs(
            key.alloc_id,
            key.task,
            key.stream,
            offset=assembler.received_offset,
            follow=follow,
            # Plain, followed or not: the raw bytes, several times cheaper than base64 inside
            # JSON. Followed, a framed stream would also bring a heartbeat a second, which with
            # thousands of followed logs in one triggerer cost more CPU than everything else
            # the triggers did; a plain one is silent while the task prints nothing (read
            # with no read timeout: the allocation's end, seen by the wait, ends it). What
            # that gives up: framed file events, i.e. a warning when rotation outran the
            # reader, which reads faster than base64 now.
            plain=True,
        )
        try:
            async with contextlib.aclosing(frames):
                async for frame in frames:
                    if frame.file_event:
                        self.log.warning(
                            "[%s] Nomad reported %r for %s: lines may be missing here",
                            key.label,
                            frame.file_event,
                            frame.file or "the log file",
                        )
                    if frame.data:
                        got_data = True
                        received += len(frame.data)
                        self._deliver_now(assembler.feed(frame.data))
                        big = not follow and received >= self.bulk_read_threshold
                        if big:
                            break
            if big:
                await read_rest_in_thread(
                    self.hook.sync_hook(), assembler, self._deliver, self._delivery
                )
        except NomadNotFoundError as exc:
            if self._task_state(key) == TaskStateName.PENDING:
                return _Read.NOTHING
            self.log.warning(
                "[%s] logs are no longer available: Nomad has garbage-collected "
                "allocation %s (%s). The outcome is still read from the allocation.",
                key.label,
                key.alloc_id,
                exc.message,
            )
            return _Read.GONE
        except (NomadTransientError, NomadConnectionError, NomadLogStreamError, OSError) as exc:
            # A corrupt frame is what a connection cut mid-frame looks like: read again.
            self.log.warning(
                "[%s] log stream interrupted (%s); resuming at byte %d",
                key.label,
                exc,
                assembler.received_offset,
            )
            return _Read.FAILED
        except NomadApiError as exc:
            self.log.warning("[%s] cannot read logs: %s", key.label, exc)
            return _Read.GONE
        return _Read.DATA if got_data else _Read.NOTHING

    def _deliver(self, chunks: list[LogChunk]) -> None:
        for chunk in chunks:
            self.on_chunk(chunk)
        if chunks:
            # Replaced whole, so a reader in another thread never sees it half updated.
            handed_out = dict(self._handed_out)
            for key in {chunk.key for chunk in chunks}:
                handed_out[str(key)] = self._assemblers[key].emitted_offset
            self._handed_out = handed_out
        if chunks and self.on_written is not None:
            self.on_written()

    def _deliver_now(self, chunks: list[LogChunk]) -> None:
        """Hand chunks out from the event loop (a bulk read's thread may be delivering too)."""
        if chunks:
            with self._delivery:
                self._deliver(chunks)

    async def _task_finished_event(self, key: LogStreamKey) -> None:
        while not self._task_finished(key):
            await self._allocs_changed.wait()

    async def _pause_before_reconnect(self, key: LogStreamKey, failures: int) -> None:
        # A stream that ended without news while its task runs (a proxy cut it) or failed:
        # reconnect on the next allocation change, or after a short, growing pause.
        pause = min(5.0, 0.2 * 2**failures) if failures else 1.0
        changed = self._allocs_changed
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout=pause)

    def _alloc(self, alloc_id: str) -> Mapping[str, Any] | None:
        return next((a for a in self._allocs if a["ID"] == alloc_id), None)

    def _task_state(self, key: LogStreamKey) -> str | None:
        alloc = self._alloc(key.alloc_id)
        state = ((alloc or {}).get("TaskStates") or {}).get(key.task) or {}
        return state.get("State")

    def _task_finished(self, key: LogStreamKey) -> bool:
        alloc = self._alloc(key.alloc_id)
        if alloc is None:
            return False
        return (
            self._task_state(key) == TaskStateName.DEAD
            or alloc.get("ClientStatus") in AllocClientStatus.TERMINAL
        )

    async def _drain_logs(self) -> None:
        """Let the streams deliver the rest of a finished job's logs.

        A stream that still receives bytes is never cut: the wait only gives up on streams
        that delivered nothing for ``drain_timeout`` seconds (a stuck connection).
        """
        pending = {t for t in self._streams.values() if not t.done()}
        received = self._received_bytes()
        while pending:
            _, pending = await asyncio.wait(pending, timeout=self.drain_timeout)
            progress, received = self._received_bytes() - received, self._received_bytes()
            if pending and not progress:
                self.log.warning(
                    "%d log stream(s) of %s delivered nothing for %.0f s after the job ended; "
                    "the task log may miss their last lines",
                    len(pending),
                    self.job_id,
                    self.drain_timeout,
                )
                return

    def _received_bytes(self) -> int:
        return sum(a.received_offset for a in self._assemblers.values())

    async def _cancel_streams(self) -> None:
        tasks = [t for t in self._streams.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _stderr_tail(self, outcome: JobOutcome) -> list[str]:
        failing = {(t.alloc_id, t.task) for t in outcome.tasks if not t.succeeded}
        tail: list[str] = []
        for key, assembler in self._assemblers.items():
            if key.stream == "stderr" and (key.alloc_id, key.task) in failing:
                tail.extend(f"[{key.label}] {line}" for line in assembler.tail)
        return tail[-20:]


def _task_started(state: Mapping[str, Any]) -> bool:
    if state.get("State") == TaskStateName.PENDING:
        return False
    started_at = state.get("StartedAt")
    if started_at and started_at != _NOT_STARTED_TIME:
        return True
    return any(e.get("Type") == "Started" for e in state.get("Events") or [])
