"""Maintenance mode (``consul maint``) on the emulated agent, seen through real HTTP.

Maintenance is a critical check the agent adds; the provider's sensor must see a service in
maintenance as unhealthy, wake when maintenance ends, and say why in its log.
"""

from __future__ import annotations

import time

import httpx
import pytest
from consul_testlib import ConsulEmulator, logged, once_a_query_parks

from airflow_provider_nomad.consul.requests import MAX_BLOCKING_WAIT
from airflow_provider_nomad.sensors.consul import ConsulHealthSensor

DEFAULT_SERVICE_REASON = (
    "Maintenance mode is enabled for this service, but no reason was provided. "
    "This is a default message."
)


def _register_passing(emulator: ConsulEmulator, service_id: str = "ledger-1") -> None:
    with httpx.Client(base_url=emulator.addr) as http:
        body = {"Name": "ledger", "ID": service_id, "Check": {"TTL": "60s"}}
        assert http.put("/v1/agent/service/register", json=body).status_code == 200
    emulator.consul.set_check_status(f"service:{service_id}", "passing", "ok")


def _put(emulator: ConsulEmulator, path: str, token: str | None = None) -> httpx.Response:
    headers = {"X-Consul-Token": token} if token else {}
    with httpx.Client(base_url=emulator.addr, headers=headers) as http:
        return http.put(path)


def test_service_maintenance_adds_and_removes_a_critical_check(consul_emulator):
    _register_passing(consul_emulator)
    answer = _put(consul_emulator, "/v1/agent/service/maintenance/ledger-1?enable=true&reason=db")
    assert (answer.status_code, answer.content) == (200, b"")
    with httpx.Client(base_url=consul_emulator.addr) as http:
        check = http.get("/v1/agent/checks").json()["_service_maintenance:ledger-1"]
        assert {k: check[k] for k in ("Name", "Status", "Notes", "ServiceID", "Type")} == {
            "Name": "Service Maintenance Mode",
            "Status": "critical",
            "Notes": "db",
            "ServiceID": "ledger-1",
            "Type": "maintenance",
        }
        passing = http.get("/v1/health/service/ledger?passing").json()
        assert passing == []
        # enabling again keeps the first reason, as Consul does
        _put(consul_emulator, "/v1/agent/service/maintenance/ledger-1?enable=1")
        notes = http.get("/v1/agent/checks").json()["_service_maintenance:ledger-1"]["Notes"]
        assert notes == "db"
        _put(consul_emulator, "/v1/agent/service/maintenance/ledger-1?enable=false")
        assert "_service_maintenance:ledger-1" not in http.get("/v1/agent/checks").json()
        assert len(http.get("/v1/health/service/ledger?passing").json()) == 1


def test_node_maintenance_turns_every_service_critical(consul_emulator):
    _register_passing(consul_emulator)
    _put(consul_emulator, "/v1/agent/maintenance?enable=true")
    with httpx.Client(base_url=consul_emulator.addr) as http:
        entry = http.get("/v1/health/service/ledger").json()[0]
        maint = [c for c in entry["Checks"] if c["CheckID"] == "_node_maintenance"]
        assert maint[0]["Status"] == "critical"
        assert maint[0]["ServiceID"] == ""
        assert maint[0]["Notes"].startswith("Maintenance mode is enabled for this node")
        _put(consul_emulator, "/v1/agent/maintenance?enable=false")
        ids = {c["CheckID"] for c in http.get("/v1/health/service/ledger").json()[0]["Checks"]}
        assert "_node_maintenance" not in ids


def test_the_default_reason_is_consuls(consul_emulator):
    _register_passing(consul_emulator)
    _put(consul_emulator, "/v1/agent/service/maintenance/ledger-1?enable=true")
    with httpx.Client(base_url=consul_emulator.addr) as http:
        check = http.get("/v1/agent/checks").json()["_service_maintenance:ledger-1"]
    assert check["Notes"] == DEFAULT_SERVICE_REASON


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/v1/agent/maintenance", 400, "Missing value for enable"),
        ("/v1/agent/maintenance?enable=yes", 400, 'Invalid value for enable: "yes"'),
        ("/v1/agent/service/maintenance/?enable=true", 400, "Missing service ID"),
        ("/v1/agent/service/maintenance/ledger-1", 400, "Missing value for enable"),
        (
            "/v1/agent/service/maintenance/nope?enable=true",
            404,
            'Unknown service ID "nope". '
            "Ensure that the service ID is passed, not the service name.",
        ),
    ],
)
def test_bad_requests_get_consuls_answers(consul_emulator, path, status, text):
    _register_passing(consul_emulator)
    answer = _put(consul_emulator, path)
    assert (answer.status_code, answer.text) == (status, text)


def test_maintenance_needs_write_permission(consul_emulator_acl):
    emulator = consul_emulator_acl
    with httpx.Client(base_url=emulator.addr, headers={"X-Consul-Token": emulator.token}) as http:
        body = {"Name": "ledger", "ID": "ledger-1"}
        assert http.put("/v1/agent/service/register", json=body).status_code == 200
    reader = emulator.consul.create_token({"service": {"ledger": "read"}, "node": {"": "read"}})
    denied = _put(emulator, "/v1/agent/service/maintenance/ledger-1?enable=true", reader)
    assert denied.status_code == 403
    assert "lacks permission 'service:write' on \"ledger\"" in denied.text
    denied = _put(emulator, "/v1/agent/maintenance?enable=true", reader)
    assert denied.status_code == 403
    assert "lacks permission 'node:write'" in denied.text
    ok = _put(emulator, "/v1/agent/maintenance?enable=true", emulator.token)
    assert ok.status_code == 200


def test_the_sensor_sees_maintenance_as_unhealthy_and_wakes_when_it_ends(
    consul_conn, caplog, capsys
):
    with httpx.Client(base_url=consul_conn.addr) as http:
        body = {"Name": "ledger", "ID": "ledger-1"}  # no check of its own: healthy
        assert http.put("/v1/agent/service/register", json=body).status_code == 200

    def sensor(poke_interval: float) -> ConsulHealthSensor:
        return ConsulHealthSensor(
            task_id="wait_for_ledger",
            service="ledger",
            poke_interval=poke_interval,
            timeout=2 * MAX_BLOCKING_WAIT,
        )

    assert sensor(0).poke({})
    _put(consul_conn, "/v1/agent/service/maintenance/ledger-1?enable=true&reason=patching")
    assert not sensor(0).poke({})
    assert "check 'Service Maintenance Mode' (_service_maintenance:ledger-1) is critical" in logged(
        caplog, capsys
    )

    def end_maintenance() -> None:
        _put(consul_conn, "/v1/agent/service/maintenance/ledger-1?enable=false")

    with once_a_query_parks(consul_conn.consul, end_maintenance) as ended:
        started = time.monotonic()
        result = sensor(MAX_BLOCKING_WAIT).execute({})
    assert ended.is_set()  # the sensor was parked in a blocking query when maintenance ended
    assert result == ["127.0.0.1:0"]
    assert time.monotonic() - started < MAX_BLOCKING_WAIT  # woken, not polled
