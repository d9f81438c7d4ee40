"""Operator endpoints of the emulated agent through py-consul and HTTP: Raft configuration,
Autopilot configuration (with check-and-set) and health, usage, and their ACLs."""

from __future__ import annotations

import consul
import httpx
import pytest


def _client(emulator, token: str | None = None) -> consul.Consul:
    host, port = emulator.addr.rsplit("//", 1)[1].rsplit(":", 1)
    return consul.Consul(host=host, port=int(port), token=token)


def test_the_server_leads_a_single_voter_raft(consul_emulator):
    config = _client(consul_emulator).operator.raft_config()
    (server,) = config["Servers"]
    assert (server["Node"], server["Leader"], server["Voter"]) == ("node-1", True, True)
    assert server["Address"] == "127.0.0.1:8300"
    assert server["ProtocolVersion"] == "3"


def test_autopilot_defaults_and_check_and_set(consul_emulator):
    c = _client(consul_emulator)
    config = c.operator.autopilot_configuration()
    assert {k: config[k] for k in ("CleanupDeadServers", "LastContactThreshold")} == {
        "CleanupDeadServers": True,
        "LastContactThreshold": "200ms",
    }
    assert config["ServerStabilizationTime"] == "10s"
    stale = c.operator.update_autopilot_configuration(
        max_trailing_logs=10, cas=config["ModifyIndex"] + 1
    )
    assert stale is False
    assert c.operator.autopilot_configuration()["MaxTrailingLogs"] == 250
    assert c.operator.update_autopilot_configuration(
        max_trailing_logs=10, last_contact_threshold="1s", cas=config["ModifyIndex"]
    )
    updated = c.operator.autopilot_configuration()
    assert (updated["MaxTrailingLogs"], updated["LastContactThreshold"]) == (10, "1s")
    # a field left out of the PUT is its zero value, as Consul decodes it
    assert updated["CleanupDeadServers"] is False
    assert updated["CreateIndex"] == config["CreateIndex"] < updated["ModifyIndex"]


def test_bad_autopilot_input_is_a_400(consul_emulator):
    with httpx.Client(base_url=consul_emulator.addr) as http:
        bad_cas = http.put("/v1/operator/autopilot/configuration?cas=x", json={})
        bad_duration = http.put(
            "/v1/operator/autopilot/configuration", json={"LastContactThreshold": "soon"}
        )
    assert (bad_cas.status_code, bad_cas.text) == (
        400,
        'Error parsing cas value: strconv.ParseUint: parsing "x": invalid syntax',
    )
    assert bad_duration.status_code == 400
    assert bad_duration.text.startswith("Error parsing autopilot config: ")


def test_autopilot_finds_the_server_healthy(consul_emulator):
    health = _client(consul_emulator).operator.autopilot_health()
    assert (health["Healthy"], health["FailureTolerance"]) == (True, 0)
    (server,) = health["Servers"]
    assert (server["Leader"], server["Healthy"], server["SerfStatus"]) == (True, True, "alive")


def test_usage_counts_the_catalog(consul_emulator):
    c = _client(consul_emulator)
    c.agent.service.register("ledger", service_id="ledger-1")
    c.agent.service.register("ledger", service_id="ledger-2")
    consul_emulator.consul.add_datacenter("dc2")
    usage = c.operator.usage()
    assert set(usage["Usage"]) == {"dc1"}
    assert usage["Usage"]["dc1"] | {"ConnectServiceInstances": None} == {
        "Services": 2,
        "ServiceInstances": 3,
        "ConnectServiceInstances": None,
        "BillableServiceInstances": 2,
        "Nodes": 1,
    }
    assert set(c.operator.usage(global_=True)["Usage"]) == {"dc1", "dc2"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/operator/raft/configuration"),
        ("GET", "/v1/operator/autopilot/configuration"),
        ("PUT", "/v1/operator/autopilot/configuration"),
        ("GET", "/v1/operator/usage"),
    ],
)
def test_operator_endpoints_need_operator_rights(consul_emulator_acl, method, path):
    emulator = consul_emulator_acl
    stranger = emulator.consul.create_token({"key": {"": "write"}})
    with httpx.Client(base_url=emulator.addr, headers={"X-Consul-Token": stranger}) as http:
        denied = http.request(method, path, json={})
    assert denied.status_code == 403
    assert "lacks permission 'operator:" in denied.text
    with httpx.Client(base_url=emulator.addr, headers={"X-Consul-Token": emulator.token}) as http:
        assert http.request(method, path, json={}).status_code == 200
