"""Handing a batch over between tries and between triggerers: the pure decisions."""

from __future__ import annotations

import asyncio
import logging
import threading
from types import SimpleNamespace

import pytest

from airflow_provider_nomad.nomad import checkpoint as checkpoint_module
from airflow_provider_nomad.nomad.checkpoint import XCOM_KEY, LogCheckpoint, merge_offsets
from airflow_provider_nomad.nomad.handover import (
    cleared_before_this_try,
    dispatched_after_a_clear,
    dispatching_try,
)
from airflow_provider_nomad.nomad.identity import TaskIdentity


@pytest.mark.parametrize(
    ("try_number", "max_tries", "retries", "cleared"),
    [
        (1, 2, 2, False),  # a first try: nothing came before it
        (2, 2, 2, False),  # a retry after a failure: max_tries as set at the start
        (3, 2, 2, False),
        (2, 3, 2, True),  # try 1 cleared: max_tries = 1 + retries
        (2, 1, 0, True),  # the same with no retries at all
        (4, 5, 2, True),  # try 3 cleared after a retry
        (5, 5, 2, False),  # ...and a retry after that clear
    ],
)
def test_a_cleared_try_is_told_from_a_retry(try_number, max_tries, retries, cleared):
    ti = SimpleNamespace(try_number=try_number, max_tries=max_tries)
    assert cleared_before_this_try(ti, retries) is cleared


def test_without_try_information_nothing_counts_as_cleared():
    assert cleared_before_this_try(SimpleNamespace(), 2) is False


def test_the_dispatching_try_is_read_off_the_token():
    identity = TaskIdentity("d", "t", "r")
    child = {"DispatchIdempotencyToken": identity.idempotency_token(3)}
    assert dispatching_try(child, identity) == 3
    other = TaskIdentity("d", "t", "another run")
    assert dispatching_try(child, other) is None
    assert dispatching_try({}, identity) is None


@pytest.mark.parametrize(
    ("token", "try_number", "after_a_clear"),
    [
        ("af-{key}-try3", 3, False),
        ("af-{key}-try3-cleared", 3, True),
        ("af-{key}-try3-" + "0a" * 10, 3, False),
        ("af-{key}-try3-cleared-" + "0a" * 10, 3, True),
        ("af-{key}-try03-cleared", None, False),
        ("af-another-try3-cleared", None, False),
    ],
)
def test_a_dispatch_after_a_clear_is_told_by_its_token(token, try_number, after_a_clear):
    identity = TaskIdentity("d", "t", "r")
    child = {"DispatchIdempotencyToken": token.format(key=identity.key)}
    assert dispatching_try(child, identity) == try_number
    assert dispatched_after_a_clear(child, identity) is after_a_clear


def test_offsets_merge_to_the_furthest_written():
    assert merge_offsets({"a": 5, "b": 1}, {"a": 3, "c": 9}) == {"a": 5, "b": 1, "c": 9}


TI = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
LOG = logging.getLogger(__name__)


async def test_checkpoint_loads_and_saves_for_the_task_instance(fake_xcom):
    fake_xcom.stored = {"a1/main/stdout": 40}
    written = {"a1/main/stdout": 40}
    checkpoint = LogCheckpoint(TI, lambda: dict(written), LOG)
    assert await checkpoint.load() == {"a1/main/stdout": 40}
    assert fake_xcom.where == {
        "key": XCOM_KEY,
        "dag_id": "d",
        "task_id": "t",
        "run_id": "r",
        "map_index": -1,
    }
    written["a1/main/stdout"] = 90
    checkpoint.changed()
    await checkpoint.flush()
    assert fake_xcom.saves == [{"a1/main/stdout": 90}]


async def test_one_save_in_flight_and_the_next_covers_what_came_meanwhile(fake_xcom):
    written = {"k": 1}
    checkpoint = LogCheckpoint(TI, lambda: dict(written), LOG)
    await checkpoint.load()
    fake_xcom.gate.clear()
    checkpoint.changed()
    await asyncio.sleep(0)  # the first save starts and waits at the gate
    for offset in (2, 3, 4):
        written["k"] = offset
        checkpoint.changed()
    fake_xcom.gate.set()
    await checkpoint.flush()
    assert fake_xcom.saves == [{"k": 1}, {"k": 4}]


async def test_changes_from_a_reader_thread_reach_the_loop(fake_xcom):
    written = {"k": 7}
    checkpoint = LogCheckpoint(TI, lambda: dict(written), LOG)
    await checkpoint.load()
    thread = threading.Thread(target=checkpoint.changed)
    thread.start()
    thread.join()
    await asyncio.sleep(0)  # the loop runs the poke the thread scheduled
    await checkpoint.flush()
    assert fake_xcom.saves == [{"k": 7}]


async def test_a_malformed_checkpoint_is_ignored(fake_xcom):
    fake_xcom.stored = {"k": "not a number"}
    assert await LogCheckpoint(TI, dict, LOG).load() == {}


async def test_outside_a_triggerer_nothing_is_kept(fake_xcom):
    checkpoint = LogCheckpoint(None, lambda: {"k": 1}, LOG)
    assert await checkpoint.load() == {}
    checkpoint.changed()
    await checkpoint.flush()
    assert fake_xcom.saves == []
    assert checkpoint_module.XCOM_KEY == "nomad_log_offsets"


async def test_a_closed_checkpoint_saves_nothing_more(fake_xcom):
    # The trigger ended: a save still waiting for its lines must not land later, in what may
    # by then be another try's XComs.
    written = {"k": 5}
    lines_taken = asyncio.Event()
    checkpoint = LogCheckpoint(TI, lambda: dict(written), LOG, lines_in_log=lines_taken.wait)
    await checkpoint.load()
    checkpoint.changed()
    await asyncio.sleep(0)  # the save starts and waits for its lines to be taken
    await checkpoint.close()
    lines_taken.set()
    checkpoint.changed()
    await checkpoint.flush()
    assert fake_xcom.saves == []
