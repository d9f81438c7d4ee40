"""A server whose answers never block cannot make a wait spin (issue #11, finding 8).

Behind a proxy that strips ``X-Nomad-Index``/``X-Consul-Index``, or with Consul's documented
index 0, every blocking query came back at once and the waits asked again at once: about 50
requests a second. A loopback server answers that way here, and each wait (the Nomad and Consul
sensors and triggers) is counted over a window: a handful of requests, never a busy loop. The
bound (5 a second) leaves a slow, loaded machine a wide margin, the bug made ten times more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from canned_server_testlib import CannedServer, serve, use_connection
from nomad_testlib import HANG_BOUND

from airflow_provider_nomad.nomad.outcome import JobResult
from airflow_provider_nomad.sensors.consul import ConsulHealthSensor
from airflow_provider_nomad.sensors.nomad import NomadAllocationSensor
from airflow_provider_nomad.triggers.consul import ConsulHealthTrigger
from airflow_provider_nomad.triggers.nomad import NomadJobEvent, NomadJobTrigger

#: How long each wait is watched, in seconds.
WINDOW = 2.0
#: The most requests a second a wait may make against a server that never blocks.
MAX_RATE = 5.0

ALLOCATIONS = "/v1/job/snapshot/allocations"
EVALUATIONS = "/v1/job/snapshot/evaluations"
HEALTH = "/v1/health/service/ledger"

#: What a proxy hands back instead of the index: nothing, or Consul's index 0.
NO_INDEX = {"no index header": {}, "index 0": {"X-Nomad-Index": "0", "X-Consul-Index": "0"}}


@pytest.fixture(params=NO_INDEX.values(), ids=NO_INDEX.keys())
def server(request: pytest.FixtureRequest, monkeypatch) -> Iterator[CannedServer]:
    """A running batch allocation and a critical Consul instance, answered without an index."""
    headers = request.param
    with serve() as canned:
        use_connection(monkeypatch, "nomad_default", "nomad", canned.address)
        use_connection(monkeypatch, "consul_default", "consul", canned.address)
        canned.answer(
            EVALUATIONS,
            [{"ID": "e1", "JobID": "snapshot", "Status": "complete", "CreateIndex": 1}],
            headers=headers,
        )
        canned.answer(
            ALLOCATIONS,
            [
                {
                    "ID": "a1",
                    "JobID": "snapshot",
                    "TaskGroup": "batch",
                    "ClientStatus": "running",
                    "DesiredStatus": "run",
                    "CreateIndex": 2,
                    "TaskStates": {},
                }
            ],
            headers=headers,
        )
        canned.answer(HEALTH, [critical_instance()], headers=headers)
        yield canned


def critical_instance() -> dict:
    return {
        "Node": {"ID": "n1", "Node": "node-1", "Address": "10.0.0.5"},
        "Service": {"ID": "ledger-1", "Service": "ledger", "Address": "", "Port": 9000},
        "Checks": [{"CheckID": "service:ledger-1", "Name": "ttl", "Status": "critical"}],
    }


def assert_paced(server: CannedServer, path: str, start: float, seconds: float) -> None:
    asked = [s for s in server.requests(path) if start <= s.at <= start + seconds]
    assert asked, f"the wait never asked {path}"
    assert len(asked) <= MAX_RATE * seconds, (
        f"{len(asked)} requests to {path} in {seconds:.1f} s: the wait spins"
    )


def test_nomad_sensor_poke(server):
    sensor = NomadAllocationSensor(
        task_id="wait", job_id="snapshot", poke_interval=WINDOW, timeout=60
    )
    start = time.monotonic()
    assert not sensor.poke({})  # the allocation still runs when the poke's window ends
    assert_paced(server, ALLOCATIONS, start, WINDOW)


async def test_nomad_trigger(server):
    trigger = NomadJobTrigger(
        job_id="snapshot", deadline=time.time() + WINDOW, stream_logs=False, stop_on_deadline=False
    )
    start = time.monotonic()

    async def first_event() -> NomadJobEvent:
        async for event in trigger.run():
            return NomadJobEvent.from_dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    event = await asyncio.wait_for(first_event(), timeout=HANG_BOUND)
    assert event.error is None
    assert event.outcome.result is JobResult.TIMED_OUT
    assert_paced(server, ALLOCATIONS, start, WINDOW)


def test_consul_sensor_poke(server):
    sensor = ConsulHealthSensor(task_id="wait", service="ledger", poke_interval=WINDOW, timeout=60)
    start = time.monotonic()
    assert not sensor.poke({}).is_done
    assert_paced(server, HEALTH, start, WINDOW)


async def test_consul_trigger(server):
    trigger = ConsulHealthTrigger(service="ledger", wait=30)
    events = trigger.run()
    waiting = asyncio.ensure_future(events.__anext__())
    try:
        assert await asyncio.to_thread(server.wait_for_request, HEALTH, HANG_BOUND)
        start = time.monotonic()
        # The trigger waits for a healthy instance that never comes: count what it asks.
        done, _ = await asyncio.wait({waiting}, timeout=WINDOW)
        assert not done, "the trigger fired although no instance is healthy"
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await events.aclose()
    assert_paced(server, HEALTH, start, WINDOW)
