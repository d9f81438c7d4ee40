"""Watch sets for blocking queries, after go-memdb's.

A query names the keys it read (a job, a job's allocations, a whole table...). A write fires the
keys it touched; only the queries watching those keys wake up, so a thousand blocked readers of
different jobs cost nothing while unrelated jobs change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable


class WatchRegistry:
    """Keys to futures; :meth:`fire` wakes every waiter on a key. Loop-thread only."""

    def __init__(self) -> None:
        self._waiters: dict[Hashable, set[asyncio.Future[None]]] = {}

    def fire(self, keys: Iterable[Hashable]) -> None:
        for key in keys:
            futures = self._waiters.pop(key, None)
            if not futures:
                continue
            for future in futures:
                if not future.done():
                    future.set_result(None)

    async def wait(self, keys: Iterable[Hashable], timeout: float) -> bool:
        """Wait until any of ``keys`` fires or ``timeout`` seconds pass; True if fired."""
        keys = tuple(keys)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._waiters.setdefault(key, set()).add(future)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            for key in keys:
                waiting = self._waiters.get(key)
                if waiting is not None:
                    waiting.discard(future)
                    if not waiting:
                        del self._waiters[key]

    def fire_all(self) -> None:
        self.fire(list(self._waiters))

    def waiting(self) -> int:
        """Number of (key, waiter) registrations; for tests and benchmarks."""
        return sum(len(v) for v in self._waiters.values())
