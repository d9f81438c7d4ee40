"""Agent administration on the emulated agent through real HTTP: reload, agent tokens,
metrics and the log monitor."""

from __future__ import annotations

import threading

import httpx
import pytest

HANG_BOUND = 30.0


def _client(emulator, token: str | None = None) -> httpx.Client:
    headers = {"X-Consul-Token": token} if token else {}
    return httpx.Client(base_url=emulator.addr, headers=headers, timeout=HANG_BOUND)


def test_reload_is_acknowledged_and_needs_agent_write(consul_emulator_acl):
    emulator = consul_emulator_acl
    with _client(emulator, emulator.token) as http:
        answer = http.put("/v1/agent/reload")
        assert (answer.status_code, answer.content) == (200, b"")
    reader = emulator.consul.create_token({"agent": {"": "read"}})
    with _client(emulator, reader) as http:
        denied = http.put("/v1/agent/reload")
    assert denied.status_code == 403
    assert "lacks permission 'agent:write'" in denied.text


def test_agent_tokens_need_acls(consul_emulator):
    with _client(consul_emulator) as http:
        answer = http.put("/v1/agent/token/default", json={"Token": "s3cret"})
    assert (answer.status_code, answer.text) == (401, "ACL support disabled")


@pytest.mark.parametrize("target", ["default", "acl_token", "agent", "agent_recovery", "dns"])
def test_agent_tokens_are_set_by_slot(consul_emulator_acl, target):
    emulator = consul_emulator_acl
    with _client(emulator, emulator.token) as http:
        answer = http.put(f"/v1/agent/token/{target}", json={"Token": "s3cret"})
    assert (answer.status_code, answer.content) == (200, b"")


def test_an_unknown_token_slot_is_404(consul_emulator_acl):
    emulator = consul_emulator_acl
    with _client(emulator, emulator.token) as http:
        answer = http.put("/v1/agent/token/nope", json={"Token": "s3cret"})
    assert (answer.status_code, answer.text) == (404, 'Token "nope" is unknown')


def test_metrics_in_go_metrics_json_shape_counting_the_state(consul_emulator):
    with _client(consul_emulator) as http:
        http.put("/v1/kv/a", content=b"1").raise_for_status()
        http.put("/v1/agent/service/register", json={"Name": "ledger"}).raise_for_status()
        metrics = http.get("/v1/agent/metrics").json()
        prometheus = http.get("/v1/agent/metrics", params={"format": "prometheus"})
    assert set(metrics) == {"Timestamp", "Gauges", "Points", "Counters", "Samples"}
    assert metrics["Timestamp"].endswith(" +0000 UTC")
    gauges = {g["Name"]: g["Value"] for g in metrics["Gauges"]}
    assert gauges["consul.state.kv_entries"] == 1.0
    assert gauges["consul.state.services"] == 2.0  # ledger and consul
    assert (prometheus.status_code, prometheus.content) == (200, b"")
    assert "retention time is not positive" in prometheus.headers["X-Consul-Reason"]


def test_monitor_refuses_an_unknown_level(consul_emulator):
    with _client(consul_emulator) as http:
        answer = http.get("/v1/agent/monitor", params={"loglevel": "chatty"})
    assert (answer.status_code, answer.text) == (400, "Unknown log level: chatty")


def test_monitor_streams_what_the_agent_logs_without_secrets(consul_emulator_acl):
    emulator = consul_emulator_acl
    with _client(emulator, emulator.token) as http:
        http.put("/v1/agent/service/register", json={"Name": "ledger", "ID": "ledger-1"})
        with http.stream("GET", "/v1/agent/monitor", params={"loglevel": "debug"}) as stream:
            assert stream.status_code == 200

            def act() -> None:
                with _client(emulator, emulator.token) as other:
                    other.put("/v1/agent/token/agent", json={"Token": "very-secret-value"})
                    other.put("/v1/agent/service/maintenance/ledger-1?enable=true")

            # the stream is open (headers received): what the agent logs from now on comes
            threading.Thread(target=act, daemon=True).start()
            lines = stream.iter_lines()
            first, second = next(lines), next(lines)
    assert "[INFO]  agent: Updated agent's ACL token: token=agent" in first
    assert "very-secret-value" not in first + second
    assert "agent: Service entered maintenance mode: service=ledger-1" in second


def test_leave_closes_the_agents_port_until_the_next_reset(nomad_emulator, consul_emulator):
    with _client(consul_emulator) as http:
        http.put("/v1/kv/k", content=b"v").raise_for_status()
        answer = http.put("/v1/agent/leave")
    assert (answer.status_code, answer.content) == (200, b"")
    # The listener closes once the answer is sent; wait on that, bounded against a hang.
    refused = False
    with httpx.Client(base_url=consul_emulator.addr, timeout=1) as http:
        for _ in range(int(HANG_BOUND * 10)):
            try:
                http.get("/v1/status/leader", headers={"Connection": "close"})
            except httpx.TransportError:
                refused = True
                break
            threading.Event().wait(0.1)  # a pause between polls of the closing listener
    assert refused
    nomad_emulator.control.reset()
    with _client(consul_emulator) as http:
        assert http.get("/v1/status/leader").status_code == 200
        assert http.get("/v1/kv/k").status_code == 404  # a fresh agent
