"""Index rules and pacing of blocking-query loops (issue #11, finding 8), on a fake clock."""

from __future__ import annotations

import pytest

from airflow_provider_nomad.blocking import BlockingPacer, next_index
from airflow_provider_nomad.transport import CONSUL, NOMAD, index_header


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def exchange(pacer: BlockingPacer, clock: Clock, sent: int | None, answered: int, took: float):
    """Wait out the pacer's delay, send on ``sent``, get ``answered`` after ``took`` seconds;
    return the delay that was waited first."""
    delay = pacer.delay()
    clock.now += delay
    pacer.sending(sent)
    clock.now += took
    pacer.answered(answered)
    return delay


@pytest.mark.parametrize(
    "headers, index",
    [
        ({}, 1),
        ({"X-Nomad-Index": ""}, 1),
        ({"X-Nomad-Index": "0"}, 1),
        ({"X-Nomad-Index": "-5"}, 1),
        ({"X-Nomad-Index": "12abc"}, 1),
        ({"X-Nomad-Index": "42"}, 42),
        ({"X-Consul-Index": "42"}, 1),  # another service's header is not Nomad's index
    ],
)
def test_index_header_is_never_below_one(headers, index):
    assert index_header(headers, NOMAD) == index


def test_index_header_reads_consuls_header():
    assert index_header({"X-Consul-Index": "0"}, CONSUL) == 1
    assert index_header({"X-Consul-Index": "9"}, CONSUL) == 9


@pytest.mark.parametrize(
    "sent, answered, expected",
    [
        (None, 0, 1),  # a first read answered without an index: block on 1, never 0
        (0, 7, 7),
        (7, 9, 9),
        (7, 7, 7),  # a timeout: block on the same index again
        (9, 7, 0),  # backwards (a snapshot restore): a plain read restarts the loop
        (0, 3, 3),  # ...and that read's index is the one to block on
    ],
)
def test_next_index_follows_consuls_rules(sent, answered, expected):
    assert next_index(sent, answered) == expected


def test_answers_without_progress_are_paced_at_a_growing_interval():
    clock = Clock()
    pacer = BlockingPacer(clock=clock)
    assert exchange(pacer, clock, None, 1, took=0.0) == 0  # the plain first read
    delays = [exchange(pacer, clock, 1, 1, took=0.01) for _ in range(8)]
    assert delays[0] == 0
    assert delays[1:] == pytest.approx([0.49, 0.99, 1.99, 3.99, 7.99, 9.99, 9.99])


def test_a_real_change_is_never_held_back():
    clock = Clock()
    pacer = BlockingPacer(clock=clock)
    for _ in range(4):
        exchange(pacer, clock, 5, 5, took=0.01)
    assert pacer.delay() > 1
    clock.now += pacer.delay()
    pacer.sending(5)
    clock.now += 0.01
    pacer.answered(6)  # the index moved: the state changed
    assert pacer.delay() == 0
    # and the next early answer without progress starts the pause over from the shortest
    assert exchange(pacer, clock, 6, 6, took=0.01) == 0
    assert pacer.delay() == pytest.approx(0.49)


def test_a_wait_that_ran_its_course_is_not_paced():
    clock = Clock()
    pacer = BlockingPacer(clock=clock)
    for _ in range(20):
        assert exchange(pacer, clock, 5, 5, took=300.0) == 0


def test_an_index_that_moves_on_every_answer_degrades_to_the_rate():
    clock = Clock()
    pacer = BlockingPacer(burst=5, rate=2.0, clock=clock)
    delays = [exchange(pacer, clock, index, index + 1, took=0.0) for index in range(1, 12)]
    assert delays[:5] == [0] * 5  # a burst of quick changes goes through at once
    assert delays[5:] == pytest.approx([0.5] * 6)
