"""ConsulHook (py-consul) and ConsulAsyncHook (httpx) against the emulator over loopback HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx
import pytest
from consul_testlib import ConsulEmulator, connection_env, logged, once_a_query_parks, unique

from airflow_provider_nomad.consul.requests import MAX_BLOCKING_WAIT
from airflow_provider_nomad.exceptions import (
    ConsulConnectionError,
    ConsulDatacenterError,
    ConsulInvalidRequestError,
    ConsulPermissionError,
    ConsulTransientError,
    ConsulUnreachableError,
)
from airflow_provider_nomad.hooks.consul import ConsulAsyncHook, ConsulHook
from airflow_provider_nomad.retry import RetryPolicy

FAST_RETRIES = RetryPolicy(max_attempts=4, max_delay=10, initial_wait=0.01, max_wait=0.05)
HEALTH_ROUTE = "GET /v1/health/service/:service"


def register(
    emulator: ConsulEmulator,
    name: str,
    service_id: str,
    *,
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
            verb = {"passing": "pass", "warning": "warn", "critical": "fail"}[status]
            response = http.put(f"/v1/agent/check/{verb}/service:{service_id}?note={output}")
            assert response.status_code == 200


# -- connection settings --------------------------------------------------------------------


def test_settings_come_from_the_connection(monkeypatch):
    connection_env(
        monkeypatch,
        "consul_prod",
        "https://consul.internal:8501",
        password="s3cret-token",
        extra={"datacenter": "dc-east", "tls_skip_verify": "true"},
    )
    hook = ConsulHook("consul_prod")
    settings = hook.settings
    assert settings.base_url == "https://consul.internal:8501"
    assert settings.datacenter == "dc-east"
    assert settings.verify is False
    assert settings.token == "s3cret-token"
    assert "s3cret-token" not in repr(hook) + repr(settings) + str(settings)
    assert ConsulHook("consul_prod", datacenter="dc-west").settings.datacenter == "dc-west"


def test_default_port_and_tls_verification_on(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_CONSUL_DEFAULT", '{"conn_type": "consul", "host": "https://consul.internal"}'
    )
    settings = ConsulHook().settings
    assert settings.base_url == "https://consul.internal:8500"
    assert settings.verify is True
    client = ConsulHook().get_conn()
    assert client.http.verify is True
    assert client.http.base_uri == "https://consul.internal:8500"


def test_bad_settings_raise_a_consul_connection_error(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_CONSUL_DEFAULT",
        '{"conn_type": "consul", "host": "consul.internal", "extra": {"namespace": "x"}}',
    )
    with pytest.raises(ConsulConnectionError, match="unknown extra field"):
        _ = ConsulHook().settings


def test_environment_never_overrides_the_connection(consul_emulator_acl, monkeypatch):
    emulator = consul_emulator_acl
    register(emulator, "web", "web-1", status="passing", token=emulator.token)
    connection_env(monkeypatch, "consul_default", emulator.addr, password=emulator.token)
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "a-token-consul-does-not-know")
    monkeypatch.setenv("CONSUL_HTTP_ADDR", "http://127.0.0.1:1")
    monkeypatch.setenv("CONSUL_HTTP_SSL_VERIFY", "false")

    hook = ConsulHook(retry_policy=FAST_RETRIES)
    report = hook.health_report("web")
    assert [i.service_id for i in report.healthy] == ["web-1"]
    assert hook.get_conn().token == emulator.token
    assert hook.get_conn().http.verify is True


def test_no_token_in_the_connection_means_anonymous_not_the_environment(
    consul_emulator_acl, monkeypatch
):
    emulator = consul_emulator_acl
    register(emulator, "web", "web-1", status="passing", token=emulator.token)
    connection_env(monkeypatch, "consul_default", emulator.addr)
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", emulator.token)

    report = ConsulHook().health_report("web")
    assert report.instances == ()
    assert report.anonymous
    assert report.service_exists is False
    assert "The connection has no token" in report.explain(1)


# -- reads ------------------------------------------------------------------------------------


def test_health_report_counts_instances_and_addresses(consul_conn):
    register(consul_conn, "web", "web-1", status="passing", Address="10.0.0.5", Port=8080)
    register(consul_conn, "web", "web-2", status="warning", output="slow", Port=8081)
    register(consul_conn, "web", "web-3", status="critical", output="refused", Port=8082)

    report = ConsulHook().health_report("web")
    assert {i.service_id: i.status for i in report.instances} == {
        "web-1": "passing",
        "web-2": "warning",
        "web-3": "critical",
    }
    assert report.addresses == ["10.0.0.5:8080"]
    lenient = ConsulHook().health_report("web", treat_warning_as_passing=True)
    # web-2 registered no address: its node's address stands in, as in Consul's DNS answers
    assert lenient.addresses == ["10.0.0.5:8080", "127.0.0.1:8081"]
    details = "\n".join(report.unhealthy_details())
    assert "'web-2'" in details and "is warning: slow" in details
    assert "'web-3'" in details and "is critical: refused" in details
    assert report.index >= 1


def test_unknown_service_versus_no_matching_instance(consul_conn):
    register(consul_conn, "web", "web-1", status="passing", Tags=["blue"])
    hook = ConsulHook()
    unknown = hook.health_report("nope")
    assert (unknown.instances, unknown.service_exists) == ((), False)
    assert unknown.explain(1).startswith(
        "Service 'nope' is not registered in Consul (the agent's datacenter)."
    )
    untagged = hook.health_report("web", tags=["green"])
    assert (untagged.instances, untagged.service_exists) == ((), True)
    assert "no instance matches tags ['green']" in untagged.explain(1)
    filtered = hook.health_report("web", filter_expr='Service.Meta.env == "prod"')
    assert "filter 'Service.Meta.env == \"prod\"'" in filtered.explain(1)
    assert hook.service_exists("web") is True


def test_blocking_read_through_the_hook_wakes_on_change(consul_conn):
    register(consul_conn, "web", "web-1")
    hook = ConsulHook()
    first = hook.health_report("web")
    with once_a_query_parks(consul_conn.consul, _passing(consul_conn, "web-1")) as turned:
        started = time.monotonic()
        second = hook.health_report("web", index=first.index, wait=MAX_BLOCKING_WAIT)
    assert turned.is_set()
    # Back before its wait could end: woken by the change.
    assert time.monotonic() - started < MAX_BLOCKING_WAIT
    assert second.index > first.index
    assert second.addresses == ["127.0.0.1:0"]


def _passing(emulator: ConsulEmulator, service_id: str) -> Callable[[], None]:
    def turn_passing() -> None:
        emulator.consul.set_check_status(f"service:{service_id}", "passing", "up")

    return turn_passing


def test_leader_and_test_connection(consul_conn):
    hook = ConsulHook()
    assert hook.leader() == "127.0.0.1:8300"
    ok, message = hook.test_connection()
    assert ok
    assert consul_conn.addr in message


def test_test_connection_reports_an_unreachable_agent(monkeypatch):
    connection_env(monkeypatch, "consul_default", "http://127.0.0.1:1")
    ok, message = ConsulHook(retry_policy=RetryPolicy(max_attempts=1)).test_connection()
    assert not ok
    assert "Cannot reach Consul at http://127.0.0.1:1" in message


# -- errors -----------------------------------------------------------------------------------


def test_unknown_token_is_a_permission_error_with_a_hint_and_no_secret(
    consul_emulator_acl, monkeypatch, caplog, capsys
):
    secret = "9d3a1c1e-dead-beef-0000-unknown-token"
    connection_env(monkeypatch, "consul_default", consul_emulator_acl.addr, password=secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConsulPermissionError) as raised:
        ConsulHook(retry_policy=FAST_RETRIES).health_report("web")
    error = raised.value
    assert error.status == 403
    assert error.message == "ACL not found"
    assert "password field" in str(error)
    assert secret not in str(error) + repr(error) + logged(caplog, capsys)
    assert consul_emulator_acl.request_count(HEALTH_ROUTE) == 1  # never retried


def test_unknown_datacenter_and_bad_filter_are_not_retried(consul_conn):
    hook = ConsulHook(datacenter="mars", retry_policy=FAST_RETRIES)
    with pytest.raises(ConsulDatacenterError, match="No path to datacenter"):
        hook.health_report("web")
    with pytest.raises(ConsulInvalidRequestError, match="boolean expression"):
        ConsulHook(retry_policy=FAST_RETRIES).health_report("web", filter_expr="Nope == 1")
    assert consul_conn.request_count(HEALTH_ROUTE) == 2


def test_transient_5xx_are_retried_with_one_warning_each(
    consul_emulator_acl, monkeypatch, caplog, capsys
):
    emulator = consul_emulator_acl
    register(emulator, "web", "web-1", status="passing", token=emulator.token)
    connection_env(monkeypatch, "consul_default", emulator.addr, password=emulator.token)
    emulator.inject_fault(HEALTH_ROUTE, status=500, body="No cluster leader", count=1)
    emulator.inject_fault(HEALTH_ROUTE, status=503, body="unavailable", count=1)
    caplog.set_level(logging.DEBUG)

    report = ConsulHook(retry_policy=FAST_RETRIES).health_report("web")
    assert report.addresses == ["127.0.0.1:0"]
    assert emulator.request_count(HEALTH_ROUTE) == 3
    text = logged(caplog, capsys)
    retries = [line for line in text.splitlines() if "retrying in" in line]
    assert len(retries) == 2
    assert all("Consul GET /v1/health/service/web failed" in line for line in retries)
    assert "No cluster leader" in retries[0]
    assert emulator.token not in text


def test_dropped_connection_is_retried(consul_conn):
    register(consul_conn, "web", "web-1", status="passing")
    consul_conn.inject_fault(HEALTH_ROUTE, drop=True, count=1)
    report = ConsulHook(retry_policy=FAST_RETRIES).health_report("web")
    assert report.addresses == ["127.0.0.1:0"]
    assert consul_conn.request_count(HEALTH_ROUTE) == 2


def test_retries_are_bounded(consul_conn):
    consul_conn.inject_fault(HEALTH_ROUTE, status=500, body="No cluster leader", count=100)
    with pytest.raises(ConsulTransientError, match="No cluster leader"):
        ConsulHook(retry_policy=FAST_RETRIES).health_report("web")
    assert consul_conn.request_count(HEALTH_ROUTE) == FAST_RETRIES.max_attempts


def test_unreachable_agent_is_typed(monkeypatch):
    connection_env(monkeypatch, "consul_default", "http://127.0.0.1:1")
    with pytest.raises(ConsulUnreachableError, match="Cannot reach Consul") as raised:
        ConsulHook(retry_policy=RetryPolicy(max_attempts=2, initial_wait=0.01)).health_report("x")
    assert raised.value.request_sent is False


# -- async ------------------------------------------------------------------------------------


async def test_async_report_matches_the_sync_one(consul_conn):
    register(consul_conn, "web", "web-1", status="passing", Address="10.0.0.5", Port=80)
    register(consul_conn, "web", "web-2", status="critical", output="down", Port=81)
    async with ConsulAsyncHook() as hook:
        report = await hook.health_report("web")
        missing = await hook.health_report("nope")
    assert report == ConsulHook().health_report("web")
    assert report.addresses == ["10.0.0.5:80"]
    assert missing.service_exists is False


async def test_async_blocking_read_wakes_on_change(consul_conn):
    register(consul_conn, "web", "web-1")
    async with ConsulAsyncHook() as hook:
        first = await hook.health_report("web")
        with once_a_query_parks(consul_conn.consul, _passing(consul_conn, "web-1")) as turned:
            started = time.monotonic()
            second = await hook.health_report("web", index=first.index, wait=MAX_BLOCKING_WAIT)
    assert turned.is_set()
    assert time.monotonic() - started < MAX_BLOCKING_WAIT  # woken by the change
    assert second.addresses == ["127.0.0.1:0"]


async def test_async_retries_faults_and_types_errors(
    consul_emulator_acl, monkeypatch, caplog, capsys
):
    emulator = consul_emulator_acl
    register(emulator, "web", "web-1", status="passing", token=emulator.token)
    connection_env(monkeypatch, "consul_default", emulator.addr, password=emulator.token)
    emulator.inject_fault(HEALTH_ROUTE, drop=True, count=1)
    emulator.inject_fault(HEALTH_ROUTE, status=500, body="No cluster leader", count=1)
    caplog.set_level(logging.DEBUG)
    async with ConsulAsyncHook(retry_policy=FAST_RETRIES) as hook:
        report = await hook.health_report("web")
    assert report.addresses == ["127.0.0.1:0"]
    assert emulator.request_count(HEALTH_ROUTE) == 3
    text = logged(caplog, capsys)
    assert "retrying in" in text
    assert emulator.token not in text

    connection_env(monkeypatch, "consul_bad", emulator.addr, password="not-a-known-token")
    async with ConsulAsyncHook("consul_bad", retry_policy=FAST_RETRIES) as hook:
        with pytest.raises(ConsulPermissionError, match="ACL not found"):
            await hook.health_report("web")


def test_unique_names_do_not_collide():
    assert unique() != unique()
