"""ConsulHealthSensor in poke and reschedule mode against the emulator."""

from __future__ import annotations

import time

import httpx
import pytest
from consul_testlib import ConsulEmulator, connection_env, logged, once_a_query_parks

from airflow_provider_nomad.consul.requests import MAX_BLOCKING_WAIT
from airflow_provider_nomad.exceptions import ConsulPermissionError, ConsulServiceNotFoundError
from airflow_provider_nomad.sensors.consul import ConsulHealthSensor

HEALTH_ROUTE = "GET /v1/health/service/:service"
#: A poke interval (and a timeout) as long as Consul lets a query block. A sensor that returns
#: sooner than this did not wait out a poke: no guess of how long a step takes.
LONG = MAX_BLOCKING_WAIT


def register(
    emulator: ConsulEmulator,
    name: str,
    service_id: str,
    status: str | None = None,
    output: str = "",
    token: str | None = None,
    **service: object,
) -> None:
    body = {"Name": name, "ID": service_id, "Check": {"TTL": "60s"}} | service
    headers = {"X-Consul-Token": token} if token else {}
    with httpx.Client(base_url=emulator.addr, headers=headers) as http:
        assert http.put("/v1/agent/service/register", json=body).status_code == 200
    if status:
        emulator.consul.set_check_status(f"service:{service_id}", status, output)


def sensor(**kwargs) -> ConsulHealthSensor:
    kwargs.setdefault("task_id", "wait_for_consul")
    kwargs.setdefault("poke_interval", 0)
    kwargs.setdefault("timeout", 30)
    return ConsulHealthSensor(**kwargs)


def test_passing_service_returns_its_addresses_at_once(consul_conn):
    register(consul_conn, "ledger", "ledger-1", "passing", Address="10.0.0.7", Port=9000)
    started = time.monotonic()
    result = sensor(service="ledger", poke_interval=LONG, timeout=2 * LONG).execute({})
    assert result == ["10.0.0.7:9000"]
    assert time.monotonic() - started < LONG  # no poke interval waited out
    assert consul_conn.request_count(HEALTH_ROUTE) == 1


def test_addresses_fall_back_to_the_node_and_can_be_switched_off(consul_conn):
    register(consul_conn, "ledger", "ledger-1", "passing", Port=9000)
    assert sensor(service="ledger").execute({}) == ["127.0.0.1:9000"]
    assert sensor(service="ledger", return_addresses=False).execute({}) is None


def test_warning_counts_only_with_the_flag(consul_conn, caplog, capsys):
    register(consul_conn, "ledger", "ledger-1", "warning", "replication lag 40s")
    strict = sensor(service="ledger")
    assert not strict.poke({})
    text = logged(caplog, capsys)
    assert "0 of 1 instance(s) of 'ledger'" in text
    assert (
        """check "Service 'ledger' check" (service:ledger-1) is warning: replication lag 40s"""
        in (text)
    )
    assert sensor(service="ledger", treat_warning_as_passing=True).poke({})


def test_critical_service_times_out_naming_the_failing_check(consul_conn, caplog, capsys):
    register(consul_conn, "ledger", "ledger-1", "critical", "connection refused")
    from airflow.sdk.exceptions import AirflowSensorTimeout

    with pytest.raises(AirflowSensorTimeout):
        sensor(service="ledger", poke_interval=0.5, timeout=1).execute({})
    text = logged(caplog, capsys)
    assert "instance 'ledger-1' on node 'node-1' (127.0.0.1:0)" in text
    assert "is critical: connection refused" in text


def test_a_poke_never_blocks_past_the_sensor_timeout(consul_conn):
    from airflow.sdk.exceptions import AirflowSensorTimeout

    register(consul_conn, "ledger", "ledger-1", "critical")
    started = time.monotonic()
    with pytest.raises(AirflowSensorTimeout):
        sensor(service="ledger", poke_interval=LONG, timeout=1).execute({})
    assert time.monotonic() - started < LONG  # the blocking wait was cut to the timeout


def test_node_failure_holds_healthy_service_checks_back(consul_conn, caplog, capsys):
    register(consul_conn, "ledger", "ledger-1", "passing")
    consul_conn.consul.set_serf_health(False)
    assert not sensor(service="ledger").poke({})
    assert "'Serf Health Status' (serfHealth) is critical: Agent not live or unreachable" in (
        logged(caplog, capsys)
    )


def test_min_passing_with_several_instances(consul_conn):
    for n in (1, 2, 3):
        register(consul_conn, "ledger", f"ledger-{n}", "critical", Port=9000 + n)
    wait_for_two = sensor(service="ledger", min_passing=2)
    consul_conn.consul.set_check_status("service:ledger-1", "passing")
    assert not wait_for_two.poke({})
    consul_conn.consul.set_check_status("service:ledger-3", "passing")
    done = wait_for_two.poke({})
    assert done.is_done
    assert done.xcom_value == ["127.0.0.1:9001", "127.0.0.1:9003"]


def test_only_instances_with_every_tag_count(consul_conn):
    register(consul_conn, "ledger", "ledger-blue", "passing", Tags=["blue", "v2"], Port=1)
    register(consul_conn, "ledger", "ledger-green", "critical", Tags=["green", "v2"], Port=2)
    assert sensor(service="ledger", tag="blue").execute({}) == ["127.0.0.1:1"]
    assert not sensor(service="ledger", tag=["green", "v2"]).poke({})
    assert sensor(service="ledger", tag=["v2"]).execute({}) == ["127.0.0.1:1"]


def test_filter_restricts_the_instances(consul_conn):
    register(consul_conn, "ledger", "a", "passing", Meta={"env": "prod"}, Port=1)
    register(consul_conn, "ledger", "b", "passing", Meta={"env": "test"}, Port=2)
    prod = sensor(service="ledger", filter='Service.Meta.env == "prod"')
    assert prod.execute({}) == ["127.0.0.1:1"]


def test_other_datacenter(consul_conn):
    consul_conn.consul.add_datacenter("dc2")
    with httpx.Client(base_url=consul_conn.addr) as http:
        http.put(
            "/v1/catalog/register",
            json={
                "Datacenter": "dc2",
                "Node": "batch-7",
                "Address": "10.2.0.7",
                "Service": {"ID": "ledger-1", "Service": "ledger", "Port": 9000},
                "Check": {"CheckID": "alive", "ServiceID": "ledger-1", "Status": "passing"},
            },
        ).raise_for_status()
    assert sensor(service="ledger", datacenter="dc2").execute({}) == ["10.2.0.7:9000"]
    with pytest.raises(ConsulServiceNotFoundError, match="not registered"):
        sensor(service="ledger", fail_on_missing=True).execute({})


def test_unknown_service_fails_fast_when_asked(consul_conn):
    started = time.monotonic()
    with pytest.raises(ConsulServiceNotFoundError) as raised:
        sensor(
            service="no-such", fail_on_missing=True, poke_interval=LONG, timeout=2 * LONG
        ).execute({})
    assert time.monotonic() - started < LONG  # failed on the first read, waited for nothing
    assert raised.value.service == "no-such"
    assert "Service 'no-such' is not registered in Consul" in str(raised.value)


def test_unknown_service_is_reported_as_such_while_waiting(consul_conn, caplog, capsys):
    assert not sensor(service="no-such").poke({})
    text = logged(caplog, capsys)
    assert "Service 'no-such' is not registered in Consul" in text
    assert "0 of 0" not in text


def test_deregistered_service_is_missing(consul_conn):
    register(consul_conn, "ledger", "ledger-1", "passing")
    waiting = sensor(service="ledger", fail_on_missing=True)
    assert waiting.poke({})
    with httpx.Client(base_url=consul_conn.addr) as http:
        http.put("/v1/agent/service/deregister/ledger-1").raise_for_status()
    with pytest.raises(ConsulServiceNotFoundError):
        waiting.poke({})


def test_flapping_check_is_judged_on_the_latest_state(consul_conn):
    register(consul_conn, "ledger", "ledger-1", "passing")
    control = consul_conn.consul
    waiting = sensor(service="ledger")
    control.set_check_status("service:ledger-1", "critical", "flap 1")
    assert not waiting.poke({})
    control.set_check_status("service:ledger-1", "passing", "ok")
    control.set_check_status("service:ledger-1", "critical", "flap 2")
    assert not waiting.poke({})
    control.set_check_status("service:ledger-1", "passing", "ok again")
    assert waiting.poke({})


def test_a_check_turning_healthy_wakes_the_poke_at_once(consul_conn):
    register(consul_conn, "ledger", "ledger-1", "critical", "starting")
    waiting = sensor(service="ledger", poke_interval=LONG, timeout=2 * LONG)

    def turn_healthy() -> None:
        consul_conn.consul.set_check_status("service:ledger-1", "passing", "ready")

    with once_a_query_parks(consul_conn.consul, turn_healthy) as turned:
        started = time.monotonic()
        result = waiting.execute({})
    assert turned.is_set()  # the poke was parked when the check changed...
    assert result == ["127.0.0.1:0"]
    assert time.monotonic() - started < LONG  # ...and returned on the change, not the interval
    # one plain read, then one blocking query that returned on the change
    assert consul_conn.request_count(HEALTH_ROUTE) == 2


def test_the_index_is_kept_between_pokes(consul_conn):
    register(consul_conn, "ledger", "ledger-1", "critical")
    waiting = sensor(service="ledger", poke_interval=0.6, timeout=2 * LONG)
    started = time.monotonic()
    assert not waiting.poke({})  # a read, then a blocking query for the rest of the interval
    assert time.monotonic() - started >= 0.5
    first_index = waiting._last_index
    assert first_index and first_index > 0
    consul_conn.consul.set_check_status("service:ledger-1", "passing")  # while "sleeping"
    waiting.poke_interval = LONG
    started = time.monotonic()
    assert waiting.poke({})  # blocks on the kept index: the change is already there
    assert time.monotonic() - started < LONG
    assert consul_conn.request_count(HEALTH_ROUTE) == 3


def test_reschedule_mode_makes_one_plain_read_per_poke(consul_conn):
    register(consul_conn, "ledger", "ledger-1", "critical")
    waiting = sensor(service="ledger", mode="reschedule", poke_interval=LONG, timeout=2 * LONG)
    started = time.monotonic()
    assert not waiting.poke({})
    assert time.monotonic() - started < LONG  # no blocking query: that would wait LONG
    assert consul_conn.request_count(HEALTH_ROUTE) == 1


def test_acl_token_denied_is_a_clear_error_without_the_secret(
    consul_emulator_acl, monkeypatch, caplog, capsys
):
    secret = "6b1d0f3e-0000-4000-8000-not-a-real-token"
    connection_env(monkeypatch, "consul_default", consul_emulator_acl.addr, password=secret)
    with pytest.raises(ConsulPermissionError) as raised:
        sensor(service="ledger").execute({})
    assert "ACL not found" in str(raised.value)
    assert "password field" in str(raised.value)
    assert secret not in str(raised.value) + logged(caplog, capsys)


def test_token_that_cannot_read_nodes_is_explained(
    consul_emulator_acl, monkeypatch, caplog, capsys
):
    emulator = consul_emulator_acl
    register(emulator, "ledger", "ledger-1", token=emulator.token)
    emulator.consul.set_check_status("service:ledger-1", "passing")
    service_only = emulator.consul.create_token({"service_prefix": {"": "read"}})
    connection_env(monkeypatch, "consul_default", emulator.addr, password=service_only)
    assert not sensor(service="ledger").poke({})
    text = logged(caplog, capsys)
    assert "Consul filtered the answer by ACLs" in text
    assert service_only not in text


def test_templated_fields_and_validation():
    assert set(ConsulHealthSensor.template_fields) == {"service", "tag", "filter", "datacenter"}
    with pytest.raises(ValueError, match="min_passing"):
        sensor(service="x", min_passing=0)
    with pytest.raises(ValueError, match="min_passing"):
        sensor(service="x", min_passing=True)
