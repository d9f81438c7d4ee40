"""The event broker behind ``/v1/event/stream``, after Nomad's ``nomad/stream`` package.

Every state write that changed jobs, evaluations, allocations, nodes, deployments, variables or
ACL objects publishes one batch ``{"Index": n, "Events": [...]}``: one event per changed object,
typed by the write (``JobRegistered``, ``PlanResult``, ``AllocationUpdated``...), its payload a
snapshot taken at commit. The broker keeps the last :data:`BUFFER_SIZE` batches for replay (a
subscription from ``index`` N starts at the first batch whose index is at least N; index 0
starts at the oldest one kept) and links each batch to the next, so a slow subscriber follows
the chain instead of losing batches that fell out of the replay buffer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# nomad/config.go: EventBufferSize
BUFFER_SIZE = 100
# nomad/event_endpoint.go: stream.NewJsonStream(ctx, 30*time.Second)
HEARTBEAT_SECONDS = 30.0

TOPIC_ALL = "*"

# Markers linked into the chain of batches, never kept for replay.
_CLOSED = -1
_CUT = -2


@dataclass
class Event:
    """One ``structs.Event``."""

    topic: str
    type: str
    key: str
    namespace: str
    filter_keys: list[str] | None
    index: int
    payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "Topic": self.topic,
            "Type": self.type,
            "Key": self.key,
            "Namespace": self.namespace,
            "FilterKeys": self.filter_keys,
            "Index": self.index,
            "Payload": self.payload,
        }

    def matches_key(self, key: str) -> bool:
        """``eventMatchesKey``: the wildcard, the key, or one of the filter keys."""
        return key == TOPIC_ALL or key == self.key or key in (self.filter_keys or ())


@dataclass
class _Item:
    """One published batch, linked to the next one once that is published."""

    index: int
    events: list[Event]
    next: _Item | None = None
    next_ready: asyncio.Future[None] | None = None


@dataclass
class Subscription:
    """What one stream asked for: topics -> keys, the namespaces it may see.

    :param topics: ``{"Job": ["example"], "Allocation": ["*"]}``; ``{"*": ["*"]}`` for all.
    :param namespaces: namespaces whose events pass (events without a namespace always pass).
    """

    topics: dict[str, list[str]]
    namespaces: frozenset[str]
    _replay: deque[_Item] = field(default_factory=deque)
    _tail: _Item | None = None

    def filter(self, events: Iterable[Event]) -> list[Event]:
        """``stream.filter``: namespace first, then topic and key."""
        all_keys = self.topics.get(TOPIC_ALL, [])
        out = []
        for event in events:
            if event.namespace and event.namespace not in self.namespaces:
                continue
            keys = [*all_keys, *self.topics.get(event.topic, [])]
            if any(event.matches_key(key) for key in keys):
                out.append(event)
        return out


class EventBroker:
    """Publishes batches and serves subscriptions. Event-loop thread only."""

    def __init__(self, buffer_size: int = BUFFER_SIZE) -> None:
        self._buffer: deque[_Item] = deque(maxlen=buffer_size)
        self._tail = _Item(index=0, events=[])
        self._closed = False

    def publish(self, index: int, events: list[Event]) -> None:
        if not events or self._closed:
            return
        item = _Item(index=index, events=events)
        self._link(item)
        self._buffer.append(item)

    def _link(self, item: _Item) -> None:
        tail, self._tail = self._tail, item
        tail.next = item
        if tail.next_ready is not None and not tail.next_ready.done():
            tail.next_ready.set_result(None)

    def clear(self) -> None:
        """Forget the replay buffer (an emulator reset); open streams keep following."""
        self._buffer.clear()

    def close(self) -> None:
        """End every open subscription (the emulator stops)."""
        self._closed = True
        self._link(_Item(index=_CLOSED, events=[]))

    def cut_streams(self) -> None:
        """Break every open subscription's connection, as a dying proxy or server would.

        Later subscriptions are not affected: they start at, or after, the marker.
        """
        self._link(_Item(index=_CUT, events=[]))

    def subscribe(
        self, topics: dict[str, list[str]], namespaces: Iterable[str], index: int
    ) -> Subscription:
        """A subscription starting at the first kept batch with ``Index >= index``."""
        replay = deque(item for item in self._buffer if item.index >= index)
        return Subscription(topics, frozenset(namespaces), replay, self._tail)

    async def next(self, sub: Subscription, timeout: float) -> list[Event] | None:
        """The next batch's events for ``sub`` (maybe empty after filtering), or None when
        ``timeout`` passes first. Raises :class:`StreamClosed` once the broker closed."""
        if sub._replay:
            # The replay ends with the batch that was the tail when the stream subscribed:
            # after it, the stream follows that tail's links.
            return self._deliver(sub._replay.popleft(), sub)
        tail = sub._tail
        assert tail is not None
        if tail.next is None:
            if tail.next_ready is None:
                tail.next_ready = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(asyncio.shield(tail.next_ready), timeout)
            except asyncio.TimeoutError:
                return None
        item = tail.next
        assert item is not None
        sub._tail = item
        return self._deliver(item, sub)

    def _deliver(self, item: _Item, sub: Subscription) -> list[Event]:
        if item.index == _CUT:
            raise StreamCut
        if item.index < 0:
            raise StreamClosed
        return sub.filter(item.events)

    def buffered_indexes(self) -> list[int]:
        """Indexes of the batches kept for replay (tests and debugging)."""
        return [item.index for item in self._buffer]


class StreamClosed(Exception):
    """The broker closed: the stream ends."""


class StreamCut(Exception):
    """The stream's connection is to be broken without an end."""
