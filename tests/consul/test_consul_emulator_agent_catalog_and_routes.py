"""The emulated Consul agent's own view and the catalog's, tagged addresses, peers, and what
it answers for routes it does not serve."""

from __future__ import annotations

import pytest
from consul_testlib import register


def test_agent_endpoints_list_local_registrations_only(http):
    # the leader's "consul" service and serfHealth check live in the catalog, not the agent
    assert http.get("/v1/agent/services").json() == {}
    assert http.get("/v1/agent/checks").json() == {}
    assert "consul" in http.get("/v1/catalog/services").json()
    states = http.get("/v1/health/state/any").json()
    assert [c["CheckID"] for c in states] == ["serfHealth"]
    register(http, {"Name": "web", "Port": 80, "Check": {"TTL": "60s"}})
    assert list(http.get("/v1/agent/services").json()) == ["web"]
    assert list(http.get("/v1/agent/checks").json()) == ["service:web"]


def test_agent_self(http):
    body = http.get("/v1/agent/self").json()
    assert body["Config"]["Datacenter"] == "dc1"
    assert body["Config"]["NodeName"] == "node-1"
    assert body["Config"]["Server"] is True
    assert body["Config"]["Version"].count(".") == 2
    assert body["Member"]["Status"] == 1
    assert {"DebugConfig", "Coord", "Stats", "Meta"} <= set(body)


def test_catalog_nodes_and_node(http):
    nodes = http.get("/v1/catalog/nodes")
    [node] = nodes.json()
    assert (node["Node"], node["Address"], node["Datacenter"]) == ("node-1", "127.0.0.1", "dc1")
    assert int(nodes.headers["X-Consul-Index"]) >= 1
    filtered = http.get("/v1/catalog/nodes", params={"filter": 'Node == "other"'})
    assert filtered.json() == []
    register(http, {"Name": "web", "ID": "web-1", "Port": 80})
    one = http.get("/v1/catalog/node/node-1").json()
    assert one["Node"]["ID"] == node["ID"]
    assert set(one["Services"]) == {"consul", "web-1"}
    assert one["Services"]["web-1"]["Service"] == "web"
    missing = http.get("/v1/catalog/node/nope")
    assert (missing.status_code, missing.json()) == (200, None)


def test_service_tagged_addresses_are_service_addresses(http):
    register(
        http,
        {
            "Name": "db",
            "Address": "10.0.0.5",
            "Port": 5432,
            "TaggedAddresses": {"lan": {"address": "10.0.0.5", "port": 5432}, "custom": {}},
        },
    )
    service = http.get("/v1/agent/services").json()["db"]
    assert service["TaggedAddresses"] == {
        "lan": {"Address": "10.0.0.5", "Port": 5432},
        "custom": {"Address": "", "Port": 0},
        # an IPv4 service address also becomes its lan_ipv4/wan_ipv4 tagged addresses
        "lan_ipv4": {"Address": "10.0.0.5", "Port": 5432},
        "wan_ipv4": {"Address": "10.0.0.5", "Port": 5432},
    }
    [entry] = http.get("/v1/health/service/db").json()
    assert entry["Service"]["TaggedAddresses"]["lan"] == {"Address": "10.0.0.5", "Port": 5432}
    bad = http.put(
        "/v1/agent/service/register",
        json={"Name": "x", "TaggedAddresses": {"lan_ipv4": {"Address": "::1"}}},
    )
    assert (bad.status_code, bad.text) == (
        500,
        'Service tagged address "lan_ipv4" must be a valid ipv4 address',
    )


def test_health_service_of_a_peer_is_empty_without_peerings(http):
    register(http, {"Name": "web", "Port": 80})
    assert len(http.get("/v1/health/service/web").json()) == 1
    peered = http.get("/v1/health/service/web", params={"peer": "other-cluster"})
    assert (peered.status_code, peered.json()) == (200, [])
    assert int(peered.headers["X-Consul-Index"]) >= 1


@pytest.mark.parametrize(
    ("method", "path", "text"),
    [
        ("GET", "/v1/agent/host", "the Consul emulator does not implement GET /v1/agent/host"),
        (
            "PUT",
            "/v1/operator/keyring",
            "the Consul emulator does not implement PUT /v1/operator/keyring",
        ),
        (
            "GET",
            "/v1/agent/service/web",
            "the Consul emulator does not implement GET /v1/agent/service/",
        ),
    ],
)
def test_routes_consul_has_but_the_emulator_does_not_serve_say_so(http, method, path, text):
    response = http.request(method, path)
    assert (response.status_code, response.text) == (501, text)


def test_a_known_route_with_a_method_consul_refuses_is_405(http):
    response = http.post("/v1/agent/host")
    assert response.status_code == 405
    assert response.headers["Allow"] == "OPTIONS,GET"


def test_a_path_consul_does_not_route_is_its_bare_404(http):
    response = http.get("/v1/no-such-thing")
    assert (response.status_code, response.content) == (404, b"")
