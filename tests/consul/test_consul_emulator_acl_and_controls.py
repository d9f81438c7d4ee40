"""The emulator's ACL enforcement and its control hooks (no real-agent equivalent)."""

from __future__ import annotations

import threading
import time

import consul
import httpx
import pytest
from consul_testlib import HANG_BOUND, ConsulEmulator

from airflow_provider_nomad.testing.consul import create_app

ANONYMOUS_HINT = ". The anonymous token is used implicitly when a request does not specify a token."


def _register(emulator: ConsulEmulator, name: str, service_id: str, token: str | None) -> None:
    with httpx.Client(base_url=emulator.addr) as http:
        response = http.put(
            "/v1/agent/service/register",
            json={"Name": name, "ID": service_id, "Port": 80, "Check": {"TTL": "60s"}},
            headers={"X-Consul-Token": token} if token else {},
        )
    assert response.status_code == 200, response.text


# -- ACLs -------------------------------------------------------------------------------------


def test_unknown_token_is_403_acl_not_found_everywhere(consul_emulator_acl: ConsulEmulator):
    with httpx.Client(base_url=consul_emulator_acl.addr) as http:
        read = http.get("/v1/health/service/web", headers={"X-Consul-Token": "nope"})
        via_query = http.get("/v1/catalog/services?token=nope")
        write = http.put(
            "/v1/agent/service/register",
            json={"Name": "web"},
            headers={"X-Consul-Token": "nope"},
        )
    for response in (read, via_query, write):
        assert (response.status_code, response.text) == (403, "ACL not found")


def test_anonymous_write_is_denied_with_consul_text(consul_emulator_acl: ConsulEmulator):
    with httpx.Client(base_url=consul_emulator_acl.addr) as http:
        response = http.put("/v1/agent/service/register", json={"Name": "web", "Port": 80})
    assert response.status_code == 403
    assert response.text == (
        "Permission denied: anonymous token lacks permission 'service:write' on \"web\""
        + ANONYMOUS_HINT
    )


def test_limited_token_denied_names_its_accessor(consul_emulator_acl: ConsulEmulator):
    reader, accessor = consul_emulator_acl.consul.create_token_ids(
        {"service_prefix": {"": {"policy": "read"}}}
    )
    with httpx.Client(base_url=consul_emulator_acl.addr) as http:
        response = http.put(
            "/v1/agent/service/register",
            json={"Name": "web"},
            headers={"Authorization": f"Bearer {reader}"},
        )
    assert response.status_code == 403
    assert response.text == (
        f"Permission denied: token with AccessorID '{accessor}' lacks permission "
        "'service:write' on \"web\""
    )


def test_reads_are_filtered_not_refused_and_the_header_is_hidden_from_anonymous(
    consul_emulator_acl: ConsulEmulator,
):
    emulator = consul_emulator_acl
    _register(emulator, "web", "web-1", emulator.token)
    no_node_read = emulator.consul.create_token({"service": {"web": "read"}})
    full_read = emulator.consul.create_token(
        {"service_prefix": {"": "read"}, "node_prefix": {"": "read"}}
    )
    with httpx.Client(base_url=emulator.addr) as http:
        anonymous = http.get("/v1/health/service/web")
        partial = http.get("/v1/health/service/web", headers={"X-Consul-Token": no_node_read})
        full = http.get("/v1/health/service/web", headers={"X-Consul-Token": full_read})
    assert (anonymous.status_code, anonymous.json()) == (200, [])
    assert "X-Consul-Results-Filtered-By-ACLs" not in anonymous.headers
    assert (partial.status_code, partial.json()) == (200, [])
    assert partial.headers["X-Consul-Results-Filtered-By-ACLs"] == "true"
    assert [e["Service"]["ID"] for e in full.json()] == ["web-1"]
    assert "X-Consul-Results-Filtered-By-ACLs" not in full.headers


def test_exact_rule_beats_prefix_and_deny_wins():
    backend = create_app(acl_token="management").state.backend
    secret = backend.create_token(
        {"service_prefix": {"": "write", "pay": "read"}, "service": {"payments-db": "deny"}}
    )
    authz = backend.acl.resolve(secret)
    assert authz.allowed("service", "web", "write")
    assert authz.allowed("service", "payroll", "read")
    assert not authz.allowed("service", "payroll", "write")
    assert not authz.allowed("service", "payments-db", "read")
    with pytest.raises(ValueError, match="unsupported ACL rule"):
        backend.create_token({"database_prefix": {"": "read"}})  # no such Consul resource


def test_management_token_may_do_everything(consul_emulator_acl: ConsulEmulator):
    emulator = consul_emulator_acl
    _register(emulator, "web", "web-1", emulator.token)
    client = consul.Consul(host="127.0.0.1", port=int(emulator.addr.rsplit(":", 1)[1]))
    client.token = emulator.token
    assert client.agent.check.ttl_pass("service:web-1") is True
    _, [entry] = client.health.service("web", passing=True)
    assert entry["Service"]["ID"] == "web-1"


def test_status_endpoints_need_no_token(consul_emulator_acl: ConsulEmulator):
    with httpx.Client(base_url=consul_emulator_acl.addr) as http:
        response = http.get("/v1/status/leader")
    assert response.status_code == 200
    assert response.json().endswith(":8300")


# -- control hooks ------------------------------------------------------------------------------


def test_serf_health_failure_takes_every_instance_on_the_node_down(
    consul_emulator: ConsulEmulator,
):
    control = consul_emulator.consul
    _register(consul_emulator, "web", "web-1", None)
    client = consul.Consul(host="127.0.0.1", port=int(consul_emulator.addr.rsplit(":", 1)[1]))
    client.agent.check.ttl_pass("service:web-1")
    index, passing = client.health.service("web", passing=True)
    assert len(passing) == 1

    control.set_serf_health(False)
    new_index, [entry] = client.health.service("web", index=index, wait="5s")
    serf = next(c for c in entry["Checks"] if c["CheckID"] == "serfHealth")
    assert int(new_index) > int(index)
    assert (serf["Status"], serf["Output"]) == ("critical", "Agent not live or unreachable")
    assert client.health.service("web", passing=True)[1] == []

    control.set_serf_health(True)
    assert len(client.health.service("web", passing=True)[1]) == 1


def test_control_hook_from_another_thread_wakes_a_parked_query(consul_emulator: ConsulEmulator):
    _register(consul_emulator, "web", "web-1", None)
    client = consul.Consul(host="127.0.0.1", port=int(consul_emulator.addr.rsplit(":", 1)[1]))
    index, _ = client.health.service("web")
    result: dict = {}

    def block() -> None:
        # Consul's longest wait, twice the hang bound: only the change can end it in time.
        result["answer"] = client.health.service("web", index=index, wait="10m")

    waiter = threading.Thread(target=block, daemon=True)
    waiter.start()
    assert consul_emulator.consul.wait_for_blocked_queries(1, timeout=HANG_BOUND)
    consul_emulator.consul.set_check_status("service:web-1", "warning", "slow disk")
    waiter.join(HANG_BOUND)
    assert not waiter.is_alive(), "the parked query was not woken by the control hook"
    check = next(c for c in result["answer"][1][0]["Checks"] if c["CheckID"] == "service:web-1")
    assert (check["Status"], check["Output"]) == ("warning", "slow disk")
    assert consul_emulator.consul.blocked_queries() == 0


def test_second_datacenter_through_the_catalog_api(consul_emulator: ConsulEmulator):
    consul_emulator.consul.add_datacenter("dc2")
    with httpx.Client(base_url=consul_emulator.addr) as http:
        registered = http.put(
            "/v1/catalog/register",
            json={
                "Datacenter": "dc2",
                "Node": "batch-7",
                "Address": "10.2.0.7",
                "Service": {"ID": "ledger-1", "Service": "ledger", "Port": 9000},
                "Check": {"CheckID": "ledger-alive", "ServiceID": "ledger-1", "Status": "passing"},
            },
        )
        in_dc2 = http.get("/v1/health/service/ledger?dc=dc2&passing").json()
        in_dc1 = http.get("/v1/health/service/ledger").json()
        datacenters = http.get("/v1/catalog/datacenters").json()
        leader = http.get("/v1/status/leader?dc=dc2").json()
    assert registered.json() is True
    assert [(e["Node"]["Node"], e["Node"]["Datacenter"]) for e in in_dc2] == [("batch-7", "dc2")]
    assert in_dc2[0]["Service"]["Address"] == ""
    assert in_dc2[0]["Node"]["Address"] == "10.2.0.7"
    assert in_dc1 == []
    assert datacenters == ["dc1", "dc2"]
    assert leader == "127.0.0.2:8300"


def test_reset_forgets_everything_but_keeps_the_index_rising(consul_emulator: ConsulEmulator):
    _register(consul_emulator, "web", "web-1", None)
    with httpx.Client(base_url=consul_emulator.addr) as http:
        before = int(http.get("/v1/health/state/any").headers["X-Consul-Index"])
        consul_emulator.consul.reset()
        after = http.get("/v1/health/service/web")
        assert after.json() == []
        assert int(after.headers["X-Consul-Index"]) > before
        assert http.get("/v1/catalog/services").json() == {"consul": []}


def test_long_check_output_is_truncated_like_consul(consul_emulator: ConsulEmulator):
    _register(consul_emulator, "web", "web-1", None)
    with httpx.Client(base_url=consul_emulator.addr) as http:
        http.put("/v1/agent/check/fail/service:web-1", params={"note": "x" * 5000})
        [entry] = http.get("/v1/health/service/web").json()
    output = next(c for c in entry["Checks"] if c["CheckID"] == "service:web-1")["Output"]
    assert output == "x" * 4096 + " ... (captured 4096 of 5000 bytes)"


def test_script_checks_are_refused_as_on_a_default_agent(consul_emulator: ConsulEmulator):
    with httpx.Client(base_url=consul_emulator.addr) as http:
        response = http.put(
            "/v1/agent/service/register",
            json={"Name": "web", "Check": {"Args": ["/bin/true"], "Interval": "10s"}},
        )
    assert response.status_code == 500
    assert response.text.startswith("Scripts are disabled on this agent")


def test_checks_without_ttl_cannot_be_updated(consul_emulator: ConsulEmulator):
    with httpx.Client(base_url=consul_emulator.addr) as http:
        http.put(
            "/v1/agent/service/register",
            json={
                "Name": "web",
                "Check": {"HTTP": "http://127.0.0.1:1/health", "Interval": "10s"},
            },
        )
        response = http.put("/v1/agent/check/pass/service:web")
        [entry] = http.get("/v1/health/service/web").json()
    assert (response.status_code, response.text) == (
        500,
        'CheckID "service:web" does not have associated TTL',
    )
    check = next(c for c in entry["Checks"] if c["CheckID"] == "service:web")
    assert (check["Type"], check["Interval"], check["Definition"]) == (
        "http",
        "10s",
        {"HTTP": "http://127.0.0.1:1/health"},
    )


def test_pretty_output_and_go_style_escaping(consul_emulator: ConsulEmulator):
    _register(consul_emulator, "web", "web-1", None)
    with httpx.Client(base_url=consul_emulator.addr) as http:
        http.put("/v1/agent/check/warn/service:web-1", params={"note": "<b>&"})
        compact = http.get("/v1/health/checks/web").text
        pretty = http.get("/v1/health/checks/web?pretty").text
    assert "\\u003cb\\u003e\\u0026" in compact
    assert pretty.endswith("\n")
    assert pretty.startswith("[\n    {")


def test_a_new_app_starts_with_a_healthy_agent_node():
    app = create_app(acl_token=None)
    assert app.state.backend.index >= 1
    app.state.backend.reset()
    assert app.state.backend.local_node.checks["serfHealth"].status == "passing"


def test_waiting_for_a_parked_query_times_out_when_none_comes(consul_emulator: ConsulEmulator):
    started = time.monotonic()
    # Answering False at all shows the wait ended by its timeout rather than hanging.
    assert consul_emulator.consul.wait_for_blocked_queries(1, timeout=0.3) is False
    assert time.monotonic() - started >= 0.3


def test_control_api_is_neither_counted_nor_a_consul_route(consul_emulator: ConsulEmulator):
    consul_emulator.consul.set_serf_health(True)
    counts = consul_emulator.emulator.control.request_counts(service="consul")
    assert not any("_emulator" in route for route in counts)
    with httpx.Client(base_url=consul_emulator.addr) as http:
        bad = http.post("/_emulator/consul/checks/nope", json={"Status": "passing"})
    assert bad.status_code == 400
    assert "unknown check" in bad.json()["error"]
