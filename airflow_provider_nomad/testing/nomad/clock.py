"""Injectable time for the emulator's state machine.

Every delay that drives state (restart delays, reschedule waits, mock-driver run times, kill
timeouts) goes through a :class:`Clock`, so a test can swap :class:`SystemClock` for
:class:`ManualClock` and move time forward explicitly instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Wall time for timestamps plus timers for delays."""

    def now_ns(self) -> int:
        """Unix time in nanoseconds (Nomad's timestamps)."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` on the event loop after ``delay`` seconds."""


class SystemClock:
    """Real time; timers are the running asyncio loop's."""

    def now_ns(self) -> int:
        return time.time_ns()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(delay, 0.0), callback)


class _ManualTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """Time that moves only when :meth:`advance` is called.

    :param start_ns: the initial unix time in nanoseconds.
    """

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self._now = start_ns
        self._heap: list[tuple[int, int, _ManualTimer, Callable[[], None]]] = []
        self._seq = itertools.count()

    def now_ns(self) -> int:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = _ManualTimer()
        due = self._now + round(max(delay, 0.0) * 1e9)
        heapq.heappush(self._heap, (due, next(self._seq), timer, callback))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, running every timer that falls due, in order."""
        target = self._now + round(seconds * 1e9)
        while self._heap and self._heap[0][0] <= target:
            due, _, timer, callback = heapq.heappop(self._heap)
            self._now = max(self._now, due)
            if not timer.cancelled:
                callback()
        self._now = target

    def pending(self) -> int:
        """How many timers are still waiting."""
        return sum(1 for _, _, timer, _ in self._heap if not timer.cancelled)


async def sleep(clock: Clock, delay: float, cancel: asyncio.Event | None = None) -> bool:
    """Wait ``delay`` seconds of ``clock`` time; return False if ``cancel`` fired first."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def _wake() -> None:
        if not done.done():
            done.set_result(True)

    timer = clock.call_later(delay, _wake)
    waiters = [done]
    cancel_task = None
    if cancel is not None:
        cancel_task = asyncio.ensure_future(cancel.wait())
        waiters.append(cancel_task)
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        if cancel_task is not None:
            cancel_task.cancel()
    return done.done()
