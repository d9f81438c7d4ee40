"""Pacing of blocking-query loops: which index to block on next, and a floor on their rate.

A blocking query (``index`` and ``wait``) returns when the watched state passes ``index`` or
the wait ends. Two kinds of answer turn such a loop into a busy loop: an index that never
moves past the one sent (a proxy that strips ``X-Nomad-Index``/``X-Consul-Index``, Consul's
documented index 0), and an index that moves on every answer (churn). Consul's guide to
blocking queries ("Implementation Details") prescribes the cures, and every wait of this
provider (the job follower, the Nomad and Consul sensors and triggers) uses them from here:

- block on an index of at least 1, and start afresh with a plain read when the index goes
  backwards (:func:`next_index`; :func:`~airflow_provider_nomad.transport.index_header`
  never reads an index below 1);
- rate-limit the loop so an answer is acted on at once in the happy case, while a server
  that keeps answering early degrades to polling at a modest rate (:class:`BlockingPacer`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["BlockingPacer", "next_index"]

#: Pause after the first blocking query that came back early without the index moving.
MIN_PAUSE = 0.5
#: Longest such pause: how often a server that never blocks ends up being asked.
MAX_PAUSE = 10.0
#: Queries that may go out in quick succession whatever they answer...
BURST = 5
#: ...and how many per second once those are spent.
RATE = 2.0


def next_index(sent: int | None, answered: int) -> int:
    """The index to block on after an answer, by Consul's rules for blocking queries.

    :param sent: the index the query blocked on (0 or ``None``: it was a plain read).
    :param answered: the index the answer carried.
    :return: 0 (a plain read that restarts the loop) when the index went backwards (a
        snapshot restore, a leader change), else the answer's index, at least 1: an index
        of 0 would never block.
    """
    if sent and answered < sent:
        return 0
    return max(1, answered)


class BlockingPacer:
    """A floor on the query rate of one blocking-query loop, whatever the server answers.

    Call :meth:`sending` before each query and :meth:`answered` with its answer's index; wait
    :meth:`delay` seconds before sending the next one. Two rules set the delay:

    - a blocking query that came back before the current pause with no index progress is
      followed by the rest of that pause, and the pause doubles (``min_pause`` up to
      ``max_pause``) while answers keep coming back early; an answer that moved the index,
      or came after a real wait, resets it. A change is never held back by this rule;
    - every query takes a token from a bucket of ``burst`` that refills at ``rate`` per
      second: a few answers in quick succession are acted on at once, an index that churns
      on every answer degrades to ``rate`` queries per second.

    One pacer per loop: it is not shared between concurrent queries.

    :param clock: monotonic time in seconds.
    """

    def __init__(
        self,
        *,
        min_pause: float = MIN_PAUSE,
        max_pause: float = MAX_PAUSE,
        burst: int = BURST,
        rate: float = RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._min_pause = min_pause
        self._max_pause = max_pause
        self._burst = burst
        self._rate = rate
        self._clock = clock
        self._pause = min_pause
        self._tokens = float(burst)
        self._counted_at = clock()
        self._sent_at = self._counted_at
        self._sent_index = 0
        self._not_before = self._counted_at

    def _refill(self, now: float) -> float:
        return min(self._burst, self._tokens + (now - self._counted_at) * self._rate)

    def delay(self) -> float:
        """Seconds to wait before sending the next query (0: send it now)."""
        now = self._clock()
        for_token = (1 - self._refill(now)) / self._rate
        return max(0.0, for_token, self._not_before - now)

    def sending(self, index: int | None) -> None:
        """Note a query going out, blocking on ``index`` (0 or ``None``: a plain read)."""
        now = self._clock()
        self._tokens = self._refill(now) - 1
        self._counted_at = now
        self._sent_at = now
        self._sent_index = index or 0

    def answered(self, index: int) -> None:
        """Note the index the answer to the last query carried."""
        if not self._sent_index:
            return  # a plain read comes back at once by design
        now = self._clock()
        early = self._pause - (now - self._sent_at)
        if index <= self._sent_index and early > 0:
            self._not_before = now + early
            self._pause = min(self._pause * 2, self._max_pause)
        else:
            self._pause = self._min_pause
