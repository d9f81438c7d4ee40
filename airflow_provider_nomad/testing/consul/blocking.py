"""Event-driven blocking queries (``?index=&wait=``) on the loop that serves the API.

Every write calls :meth:`ChangeFeed.notify`; a parked query awaits the current
``asyncio.Event``, which ``notify`` swaps for a fresh one and sets. Nothing sleeps or polls.
Writers on other threads (tests driving ``app.state.backend``) hand the wake-up to the loop
with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

DEFAULT_QUERY_TIME = 300.0  # Consul's default_query_time: 5 minutes
MAX_QUERY_TIME = 600.0  # max_query_time: 10 minutes
JITTER_FRACTION = 16  # structs.JitterFraction: the wait grows by up to wait/16

T = TypeVar("T")


class ChangeFeed:
    """Wake-ups, timers and blocking queries bound to one event loop.

    :param lock: the lock that guards the data ``compute`` callbacks read.
    :param rng: random source of the jitter added to each wait.
    """

    def __init__(self, lock: threading.RLock, rng: random.Random | None = None) -> None:
        self.lock = lock
        self.jitter_fraction: float = JITTER_FRACTION
        self._rng = rng or random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._changed = asyncio.Event()
        self._pending_timers: list[tuple[float, Callable[[], None]]] = []
        self._blocked = 0
        self._blocked_cv = threading.Condition()
        self._blocked_changed = asyncio.Event()
        #: bumped when the state store is replaced (a snapshot restore): every parked query
        #: answers at once with what it finds, whatever its index (Consul's abandon channel)
        self._abandoned = 0

    def abandon(self) -> None:
        """Answer every parked query now (the caller replaced the state; call notify())."""
        with self.lock:
            self._abandoned += 1

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the loop that serves the API (called on every request; cheap)."""
        if loop is self._loop:
            return
        with self.lock:
            self._loop = loop
            self._loop_thread = threading.get_ident()
            self._changed = asyncio.Event()
            self._blocked_changed = asyncio.Event()
            pending, self._pending_timers = self._pending_timers, []
        now = time.monotonic()
        for due, callback in pending:
            loop.call_later(max(0.0, due - now), callback)

    def _on_loop_thread(self) -> bool:
        return self._loop_thread == threading.get_ident()

    def notify(self) -> None:
        """Wake every parked query so it re-reads the state."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # no loop yet: nobody can be waiting
        if self._on_loop_thread():
            self._wake()
        else:
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        with self.lock:
            event, self._changed = self._changed, asyncio.Event()
        event.set()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the loop after ``delay`` seconds, from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._pending_timers.append((time.monotonic() + delay, callback))
        elif self._on_loop_thread():
            loop.call_later(delay, callback)
        else:
            loop.call_soon_threadsafe(loop.call_later, delay, callback)

    def query_timeout(self, wait: float | None) -> float:
        """Consul's ``RPCQueryTimeout``: default 5 min, capped at 10 min, plus up to 1/16 jitter."""
        timeout = DEFAULT_QUERY_TIME if not wait else min(wait, MAX_QUERY_TIME)
        if self.jitter_fraction:
            timeout += self._rng.uniform(0, timeout / self.jitter_fraction)
        return timeout

    async def blocking_query(
        self, min_index: int, wait: float | None, compute: Callable[[], tuple[int, T]]
    ) -> tuple[int, T]:
        """Run ``compute`` (``-> (index, result)``) now, or once its index passes ``min_index``.

        Without ``min_index`` the query answers at once. Otherwise it re-runs ``compute`` after
        each write until the index moves past ``min_index`` or the wait (with jitter) is over,
        then answers with what it has, like Consul's ``blockingquery.Query``.
        """
        with self.lock:
            event = self._changed
            abandoned = self._abandoned
            index, result = compute()
        if min_index <= 0 or index > min_index:
            return index, result
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.query_timeout(wait)
        self._count_blocked(+1)
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return index, result
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
                with self.lock:
                    event = self._changed
                    index, result = compute()
                    if self._abandoned != abandoned:
                        return index, result
                if index > min_index:
                    return index, result
        finally:
            self._count_blocked(-1)

    def _count_blocked(self, delta: int) -> None:
        # Runs on the loop (inside blocking_query), so the asyncio event is safe to swap here.
        with self._blocked_cv:
            self._blocked += delta
            self._blocked_cv.notify_all()
        event, self._blocked_changed = self._blocked_changed, asyncio.Event()
        event.set()

    @property
    def blocked_queries(self) -> int:
        """Number of blocking queries parked right now."""
        return self._blocked

    async def until_blocked(self, count: int, timeout: float) -> bool:
        """On the loop: wait until ``count`` queries are parked; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._blocked < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._blocked_changed.wait(), remaining)
        return True

    def wait_for_blocked_queries(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block the calling thread until ``count`` queries are parked; False on timeout.

        Lets a test change state exactly while a client waits in a blocking query, without
        sleeping. Never call it from the loop that serves the API.
        """
        with self._blocked_cv:
            return self._blocked_cv.wait_for(lambda: self._blocked >= count, timeout)
