"""ConsulHealthTrigger run in asyncio against the emulator, and the sensor's deferrable path."""

from __future__ import annotations

import asyncio
import importlib
import time

import httpx
import pytest
from consul_testlib import HANG_BOUND, ConsulEmulator, connection_env, logged, once_a_query_parks

from airflow_provider_nomad.consul.requests import MAX_BLOCKING_WAIT
from airflow_provider_nomad.exceptions import (
    ConsulPermissionError,
    ConsulServiceNotFoundError,
    ConsulTransientError,
    NomadProviderError,
)
from airflow_provider_nomad.sensors.consul import ConsulHealthSensor
from airflow_provider_nomad.triggers.consul import ConsulHealthEvent, ConsulHealthTrigger

HEALTH_ROUTE = "GET /v1/health/service/:service"


def register(emulator: ConsulEmulator, name: str, service_id: str, status: str | None = None):
    with httpx.Client(base_url=emulator.addr) as http:
        body = {"Name": name, "ID": service_id, "Port": 9000, "Check": {"TTL": "60s"}}
        assert http.put("/v1/agent/service/register", json=body).status_code == 200
    if status:
        emulator.consul.set_check_status(f"service:{service_id}", status, "")


async def first_event(
    trigger: ConsulHealthTrigger, timeout: float = HANG_BOUND
) -> ConsulHealthEvent:
    async def take() -> ConsulHealthEvent:
        async for event in trigger.run():
            return ConsulHealthEvent.from_dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return await asyncio.wait_for(take(), timeout)


def test_serialize_round_trips_exactly():
    trigger = ConsulHealthTrigger(
        service="ledger",
        min_passing=2,
        tags=["blue", "v2"],
        datacenter="dc2",
        filter_expr='Service.Meta.env == "prod"',
        treat_warning_as_passing=True,
        fail_on_missing=True,
        consul_conn_id="consul_prod",
        index=42,
        wait=120.0,
    )
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["tags"] == ["blue", "v2"]
    assert kwargs["index"] == 42


def test_event_payload_round_trips_and_rejects_unknown_status():
    event = ConsulHealthEvent(
        status="healthy",
        service="ledger",
        datacenter=None,
        index=7,
        addresses=["10.0.0.1:80"],
        message="1 of 1",
    )
    assert ConsulHealthEvent.from_dict(event.to_dict()) == event
    with pytest.raises(ValueError, match="unknown Consul health event status"):
        ConsulHealthEvent.from_dict(event.to_dict() | {"status": "maybe"})


def test_error_events_rebuild_the_provider_error_class():
    original = ConsulTransientError(500, "No cluster leader", "GET", "/v1/health/service/x")
    event = ConsulHealthEvent.from_error("x", None, original)
    rebuilt = ConsulHealthEvent.from_dict(event.to_dict()).exception()
    assert type(rebuilt) is ConsulTransientError
    assert str(rebuilt) == str(original)
    forged = event.to_dict() | {"error": ["SystemExit", [1]]}
    assert type(ConsulHealthEvent.from_dict(forged).exception()) is NomadProviderError


async def test_healthy_service_fires_at_once(consul_conn):
    register(consul_conn, "ledger", "ledger-1", "passing")
    event = await first_event(ConsulHealthTrigger(service="ledger"))
    assert event.status == "healthy"
    assert event.addresses == ["127.0.0.1:9000"]
    assert event.index > 0


async def test_trigger_wakes_promptly_when_a_check_turns_healthy(consul_conn, caplog, capsys):
    register(consul_conn, "ledger", "ledger-1", "critical")

    def flip() -> None:
        consul_conn.consul.set_check_status("service:ledger-1", "passing", "ready")

    with once_a_query_parks(consul_conn.consul, flip) as flipped:
        started = time.monotonic()
        event = await first_event(ConsulHealthTrigger(service="ledger", wait=MAX_BLOCKING_WAIT))
    assert flipped.is_set()
    assert event.status == "healthy"
    assert time.monotonic() - started < MAX_BLOCKING_WAIT  # woken by the change, not the wait
    assert consul_conn.request_count(HEALTH_ROUTE) == 2  # a read, then one parked query
    assert "Waiting for Consul service 'ledger'" in logged(caplog, capsys)


async def test_unknown_service_ends_as_missing_only_when_asked(consul_conn):
    event = await first_event(ConsulHealthTrigger(service="ghost", fail_on_missing=True))
    assert event.status == "missing"
    assert "Service 'ghost' is not registered in Consul" in event.message

    def appear() -> None:
        register(consul_conn, "ghost", "ghost-1", "passing")

    with once_a_query_parks(consul_conn.consul, appear) as appeared:
        event = await first_event(ConsulHealthTrigger(service="ghost", wait=MAX_BLOCKING_WAIT))
    assert appeared.is_set()
    assert event.status == "healthy"


async def test_permission_error_becomes_an_error_event(consul_emulator_acl, monkeypatch):
    connection_env(monkeypatch, "consul_default", consul_emulator_acl.addr, password="unknown")
    event = await first_event(ConsulHealthTrigger(service="ledger"))
    assert event.status == "error"
    error = event.exception()
    assert isinstance(error, ConsulPermissionError)
    assert error.message == "ACL not found"


async def test_faults_are_retried_inside_the_trigger(consul_conn):
    register(consul_conn, "ledger", "ledger-1", "passing")
    consul_conn.inject_fault(HEALTH_ROUTE, status=500, body="No cluster leader", count=1)
    consul_conn.inject_fault(HEALTH_ROUTE, drop=True, count=1)
    event = await first_event(ConsulHealthTrigger(service="ledger"))
    assert event.status == "healthy"
    assert consul_conn.request_count(HEALTH_ROUTE) == 3


# -- the sensor's deferrable path ------------------------------------------------------------


def deferrable_sensor(**kwargs) -> ConsulHealthSensor:
    return ConsulHealthSensor(
        task_id="wait_for_consul", deferrable=True, timeout=600, poke_interval=5, **kwargs
    )


def test_deferrable_sensor_succeeds_without_deferring_when_healthy(consul_conn):
    register(consul_conn, "ledger", "ledger-1", "passing")
    assert deferrable_sensor(service="ledger").execute({}) == ["127.0.0.1:9000"]


def test_deferrable_sensor_defers_with_the_index_it_read(consul_conn):
    from airflow.sdk.exceptions import TaskDeferred

    register(consul_conn, "ledger", "ledger-1", "critical")
    with pytest.raises(TaskDeferred) as deferred:
        deferrable_sensor(service="ledger", tag="v2", min_passing=1).execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, ConsulHealthTrigger)
    with httpx.Client(base_url=consul_conn.addr) as http:
        index = int(http.get("/v1/health/service/ledger").headers["X-Consul-Index"])
    assert trigger.index == index
    assert trigger.tags == ("v2",)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout.total_seconds() == 600


async def test_deferred_wait_end_to_end(consul_conn):
    from airflow.sdk.exceptions import TaskDeferred

    register(consul_conn, "ledger", "ledger-1", "critical")
    task = deferrable_sensor(service="ledger")
    with pytest.raises(TaskDeferred) as deferred:
        await asyncio.to_thread(task.execute, {})

    def flip() -> None:
        consul_conn.consul.set_check_status("service:ledger-1", "passing")

    with once_a_query_parks(consul_conn.consul, flip) as flipped:
        event = await first_event(deferred.value.trigger)
    assert flipped.is_set()
    result = await asyncio.to_thread(task.execute_complete, {}, event.to_dict())
    assert result == ["127.0.0.1:9000"]


def test_execute_complete_rechecks_and_waits_again_after_a_flap(consul_conn):
    from airflow.sdk.exceptions import TaskDeferred

    register(
        consul_conn,
        "ledger",
        "ledger-1",
        "critical",
    )
    fired = ConsulHealthEvent(
        status="healthy", service="ledger", datacenter=None, index=3, addresses=["x:1"]
    )
    task = deferrable_sensor(service="ledger")
    with pytest.raises(TaskDeferred) as deferred:
        task.execute_complete({}, fired.to_dict())
    assert deferred.value.trigger.index > 0
    consul_conn.consul.set_check_status("service:ledger-1", "passing")
    assert task.execute_complete({}, fired.to_dict()) == ["127.0.0.1:9000"]


def test_execute_complete_raises_typed_errors(consul_conn):
    task = deferrable_sensor(service="ledger")
    missing = ConsulHealthEvent(status="missing", service="ledger", datacenter=None, message="gone")
    with pytest.raises(ConsulServiceNotFoundError, match="gone"):
        task.execute_complete({}, missing.to_dict())
    error = ConsulHealthEvent.from_error(
        "ledger", None, ConsulPermissionError(403, "ACL not found", "GET", "/v1/x", "fix it")
    )
    with pytest.raises(ConsulPermissionError, match="fix it"):
        task.execute_complete({}, error.to_dict())
