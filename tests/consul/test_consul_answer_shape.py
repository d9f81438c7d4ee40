"""Answers not shaped like Consul's are refused, never counted as healthy (issue #11, finding 6).

A loopback server stands where the Consul agent should be and answers what a proxy, another
endpoint or a foreign server might: the hooks and the sensor raise
:class:`ConsulUnexpectedResponseError` instead of judging it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from canned_server_testlib import CannedServer, serve, use_connection

from airflow_provider_nomad.consul.health import parse_instances
from airflow_provider_nomad.exceptions import ConsulUnexpectedResponseError
from airflow_provider_nomad.hooks.consul import ConsulAsyncHook, ConsulHook
from airflow_provider_nomad.sensors.consul import ConsulHealthSensor

HEALTH = "/v1/health/service/ledger"
CATALOG = "/v1/catalog/service/ledger"
TOKEN = "0b5d7f4e-1111-4000-8000-not-a-real-token"


def entry(service: str = "ledger", status: str = "passing", **changes) -> dict:
    """One entry of ``/v1/health/service/:svc`` as a real Consul agent sends it."""
    value = {
        "Node": {"ID": "n1", "Node": "node-1", "Address": "10.0.0.5", "Datacenter": "dc1"},
        "Service": {
            "ID": f"{service}-1",
            "Service": service,
            "Tags": [],
            "Address": "10.0.0.7",
            "Port": 9000,
            "Meta": {},
        },
        "Checks": [
            {"Node": "node-1", "CheckID": "serfHealth", "Name": "Serf Health Status",
             "Status": "passing", "Output": "", "ServiceID": "", "ServiceName": ""},
            {"Node": "node-1", "CheckID": f"service:{service}-1", "Name": "ledger TTL",
             "Status": status, "Output": "", "ServiceID": f"{service}-1",
             "ServiceName": service},
        ],
    }  # fmt: skip
    return value | changes


def without(key: str, inner: str | None = None) -> dict:
    value = entry()
    if inner is None:
        del value[key]
    else:
        del value[key][inner]
    return value


KV_ANSWER = [
    {"Key": "ledger", "Value": "e30=", "Flags": 0, "CreateIndex": 5, "ModifyIndex": 5,
     "LockIndex": 0},
]  # fmt: skip

NOT_HEALTH_ANSWERS = {
    "an empty object": [{}],
    "a KV answer": KV_ANSWER,
    "an entry without Checks": [without("Checks")],
    "an entry without Node": [without("Node")],
    "an entry without Service.ID": [without("Service", "ID")],
    "a check without Status": [entry(Checks=[{"CheckID": "serfHealth", "Name": "x"}])],
    "Checks that is not an array": [entry(Checks={"serfHealth": "passing"})],
    "an object": {"ledger": [entry()]},
    "a null entry": [None],
    "a string": "ledger is fine",
    "an instance of another service": [entry(), entry(service="ledger-proxy")],
    "a port that is not a number": [entry(Service=entry()["Service"] | {"Port": "9000"})],
}


@pytest.fixture
def consul_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[CannedServer]:
    """``consul_default`` pointing at a canned server (with a token, to check it never leaks)."""
    with serve() as server:
        use_connection(monkeypatch, "consul_default", "consul", server.address, password=TOKEN)
        yield server


@pytest.mark.parametrize("body", NOT_HEALTH_ANSWERS.values(), ids=NOT_HEALTH_ANSWERS.keys())
def test_a_health_answer_not_shaped_like_consuls_is_an_error(consul_server, body):
    consul_server.answer(HEALTH, body, headers={"X-Consul-Index": "7"})
    consul_server.answer(CATALOG, [])
    sensor = ConsulHealthSensor(task_id="wait", service="ledger", poke_interval=0, timeout=5)
    with pytest.raises(ConsulUnexpectedResponseError) as raised:
        sensor.poke({})
    message = str(raised.value)
    assert "Unexpected answer from Consul" in message
    assert f"GET {HEALTH}" in message
    assert TOKEN not in message
    with pytest.raises(ConsulUnexpectedResponseError):
        ConsulHook().health_service("ledger")


def test_the_problem_is_named(consul_server):
    consul_server.answer(HEALTH, [entry(), entry(service="payments")])
    with pytest.raises(ConsulUnexpectedResponseError) as raised:
        ConsulHook().health_report("ledger")
    assert "instance 1: it is an instance of service 'payments', not of 'ledger'" in str(
        raised.value
    )
    consul_server.answer(HEALTH, [without("Checks")])
    with pytest.raises(ConsulUnexpectedResponseError, match="instance 0: no Checks array"):
        ConsulHook().health_report("ledger")


def test_an_answer_echoing_the_token_is_redacted(consul_server):
    consul_server.answer(HEALTH, {"error": f"bad token {TOKEN}"})
    with pytest.raises(ConsulUnexpectedResponseError) as raised:
        ConsulHook().health_report("ledger")
    assert TOKEN not in str(raised.value)
    assert "<redacted>" in str(raised.value)


async def test_the_async_hook_checks_the_same_shape(consul_server):
    consul_server.answer(HEALTH, [{}])
    async with ConsulAsyncHook() as hook:
        with pytest.raises(ConsulUnexpectedResponseError, match="no Node object"):
            await hook.health_report("ledger")
        with pytest.raises(ConsulUnexpectedResponseError, match="no Node object"):
            await hook.health_service("ledger")


def test_the_catalog_answer_must_be_an_array(consul_server):
    consul_server.answer(HEALTH, [])
    consul_server.answer(CATALOG, {"ledger": ["v1"]})
    with pytest.raises(ConsulUnexpectedResponseError, match="expected a JSON array, got object"):
        ConsulHook().health_report("ledger")
    with pytest.raises(ConsulUnexpectedResponseError, match=f"GET {CATALOG}"):
        ConsulHook().service_exists("ledger")


def test_the_leader_answer_must_be_a_string(consul_server):
    consul_server.answer("/v1/status/leader", ["10.0.0.1:8300"])
    with pytest.raises(ConsulUnexpectedResponseError, match="expected a JSON string, got array"):
        ConsulHook().leader()
    ok, message = ConsulHook().test_connection()
    assert not ok
    assert "expected a JSON string" in message


def test_real_consul_answers_are_still_read(consul_server):
    # Consul matches service names without regard to case, and answers with the registered one.
    consul_server.answer("/v1/health/service/Ledger", [entry(), entry(status="critical")])
    report = ConsulHook().health_report("Ledger")
    assert [i.service_id for i in report.healthy] == ["ledger-1"]
    assert len(report.unhealthy) == 1
    consul_server.answer(HEALTH, [])
    consul_server.answer(CATALOG, [])
    assert ConsulHook().health_report("ledger").is_missing
    consul_server.answer("/v1/status/leader", "10.0.0.1:8300")
    assert ConsulHook().leader() == "10.0.0.1:8300"


def test_parse_instances_checks_the_shape_on_its_own():
    with pytest.raises(ConsulUnexpectedResponseError, match="no Checks array"):
        parse_instances([without("Checks")], "ledger")
    with pytest.raises(ConsulUnexpectedResponseError, match="got object"):
        parse_instances({"Node": {}}, "ledger")
    (instance,) = parse_instances([entry(Service=entry()["Service"] | {"Address": ""})], "ledger")
    assert instance.endpoint == "10.0.0.5:9000"  # the node's address when the service has none
