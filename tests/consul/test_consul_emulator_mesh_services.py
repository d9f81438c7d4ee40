"""Service-mesh registrations on the emulated Consul agent: sidecars the agent derives from
``Connect.SidecarService``, proxies and gateways, and the catalog and health reads of the mesh
(Connect endpoints, ingress gateways, gateway services, central config merged in)."""

from __future__ import annotations

import httpx
from consul_testlib import HANG_BOUND, ConsulEmulator, once_a_query_parks, register


def put_config(http: httpx.Client, body: dict) -> None:
    response = http.put("/v1/config", json=body)
    assert (response.status_code, response.json()) == (200, True), response.text


def test_sidecar_service_is_registered_as_the_agent_derives_it(http):
    register(
        http,
        {
            "Name": "web",
            "ID": "web-1",
            "Port": 8080,
            "Tags": ["v1"],
            "Meta": {"team": "settlement"},
            "Connect": {"sidecar_service": {}},
        },
    )
    services = http.get("/v1/agent/services").json()
    assert set(services) == {"web-1", "web-1-sidecar-proxy"}
    sidecar = services["web-1-sidecar-proxy"]
    assert sidecar["Kind"] == "connect-proxy"
    assert sidecar["Service"] == "web-sidecar-proxy"
    assert sidecar["Port"] == 21000  # the lowest port of the sidecar range
    assert (sidecar["Tags"], sidecar["Meta"]) == (["v1"], {"team": "settlement"})
    assert sidecar["Proxy"] == {
        "DestinationServiceName": "web",
        "DestinationServiceID": "web-1",
        "LocalServiceAddress": "127.0.0.1",
        "LocalServicePort": 8080,
        "Mode": "",
        "MeshGateway": {},
        "Expose": {},
    }
    assert "Proxy" not in services["web-1"]  # a plain service's AgentService has none
    checks = http.get("/v1/agent/checks").json()
    listening = checks["service:web-1-sidecar-proxy:1"]
    assert (listening["Name"], listening["Type"]) == ("Connect Sidecar Listening", "tcp")
    assert listening["Definition"] == {"TCP": "127.0.0.1:21000"}
    aliasing = checks["service:web-1-sidecar-proxy:2"]
    assert (aliasing["Name"], aliasing["Type"]) == ("Connect Sidecar Aliasing web-1", "alias")


def test_sidecar_ports_are_allocated_apart_and_kept_on_reregistration(http):
    register(http, {"Name": "a", "Port": 1, "Connect": {"SidecarService": {}}})
    register(http, {"Name": "b", "Port": 2, "Connect": {"SidecarService": {}}})
    register(http, {"Name": "a", "Port": 1, "Tags": ["x"], "Connect": {"SidecarService": {}}})
    services = http.get("/v1/agent/services").json()
    assert services["a-sidecar-proxy"]["Port"] == 21000
    assert services["b-sidecar-proxy"]["Port"] == 21001
    assert services["a-sidecar-proxy"]["Tags"] == ["x"]


def test_deregistering_a_service_takes_its_sidecar_along(http):
    register(http, {"Name": "web", "Port": 80, "Connect": {"SidecarService": {"Port": 9999}}})
    assert http.get("/v1/agent/services").json()["web-sidecar-proxy"]["Port"] == 9999
    assert http.put("/v1/agent/service/deregister/web").status_code == 200
    assert http.get("/v1/agent/services").json() == {}
    assert http.get("/v1/agent/checks").json() == {}


def test_a_connect_proxy_without_destination_is_refused_with_consuls_text(http):
    response = http.put(
        "/v1/agent/service/register", json={"Name": "p", "Kind": "connect-proxy", "Port": 1}
    )
    assert response.status_code == 400
    assert response.text == (
        "Validation failed: 1 error occurred:\n\t* Proxy.DestinationServiceName must be "
        "non-empty for Connect proxy services\n\n"
    )
    unknown = http.put("/v1/agent/service/register", json={"Name": "p", "Kind": "sidecar"})
    assert unknown.status_code == 400
    assert "invalid service kind" in unknown.text


def test_proxy_upstreams_and_locality_are_kept(http):
    register(
        http,
        {
            "Name": "web-proxy",
            "Kind": "connect-proxy",
            "Port": 21500,
            "Proxy": {
                "DestinationServiceName": "web",
                "Upstreams": [{"DestinationName": "db", "LocalBindPort": 9191}],
            },
            "Locality": {"Region": "eu-west-1", "Zone": "eu-west-1a"},
        },
    )
    [entry] = http.get("/v1/health/service/web-proxy").json()
    assert entry["Service"]["Proxy"]["Upstreams"] == [
        {"DestinationName": "db", "LocalBindPort": 9191, "MeshGateway": {}}
    ]
    assert entry["Service"]["Locality"] == {"Region": "eu-west-1", "Zone": "eu-west-1a"}
    [node] = http.get("/v1/catalog/service/web-proxy").json()
    assert node["ServiceLocality"] == {"Region": "eu-west-1", "Zone": "eu-west-1a"}
    assert node["ServiceProxy"]["DestinationServiceName"] == "web"


def test_connect_endpoints_of_a_service_are_its_proxies_and_native_instances(http):
    register(http, {"Name": "web", "ID": "web-1", "Port": 80})
    assert http.get("/v1/health/connect/web").json() == []
    register(http, {"Name": "web", "ID": "web-1", "Port": 80, "Connect": {"SidecarService": {}}})
    register(http, {"Name": "web", "ID": "web-native", "Port": 81, "Connect": {"Native": True}})
    register(http, {"Name": "other", "Port": 82, "Connect": {"SidecarService": {}}})
    health = http.get("/v1/health/connect/web")
    assert [e["Service"]["ID"] for e in health.json()] == ["web-1-sidecar-proxy", "web-native"]
    assert int(health.headers["X-Consul-Index"]) >= 1
    native = health.json()[1]["Service"]
    assert native["Connect"] == {"Native": True}
    catalog = http.get("/v1/catalog/connect/web").json()
    assert [n["ServiceID"] for n in catalog] == ["web-1-sidecar-proxy", "web-native"]
    tagged = http.get(
        "/v1/catalog/connect/web", params={"filter": 'ServiceKind == "connect-proxy"'}
    )
    assert [n["ServiceID"] for n in tagged.json()] == ["web-1-sidecar-proxy"]


def test_ingress_gateway_services_and_health_ingress(http):
    assert http.get("/v1/catalog/gateway-services/edge").json() == []
    register(http, {"Name": "edge", "Kind": "ingress-gateway", "Port": 8443})
    register(http, {"Name": "api", "Port": 9000})
    put_config(
        http,
        {
            "Kind": "ingress-gateway",
            "Name": "edge",
            "Listeners": [
                {"Port": 8443, "Protocol": "http", "Services": [{"Name": "api", "Hosts": ["a.b"]}]}
            ],
        },
    )
    [link] = http.get("/v1/catalog/gateway-services/edge").json()
    assert link["Gateway"] == {"Name": "edge"}
    assert link["Service"] == {"Name": "api"}
    assert (link["GatewayKind"], link["Port"], link["Protocol"]) == (
        "ingress-gateway",
        8443,
        "http",
    )
    assert link["Hosts"] == ["a.b"]
    [entry] = http.get("/v1/health/ingress/api").json()
    assert entry["Service"]["Service"] == "edge"
    assert http.get("/v1/health/ingress/edge").json() == []


def test_terminating_gateway_links(http):
    put_config(
        http,
        {
            "Kind": "terminating-gateway",
            "Name": "egress",
            "Services": [{"Name": "billing", "CAFile": "/ca.pem", "SNI": "billing.example"}],
        },
    )
    [link] = http.get("/v1/catalog/gateway-services/egress").json()
    assert link["GatewayKind"] == "terminating-gateway"
    assert (link["CAFile"], link["SNI"]) == ("/ca.pem", "billing.example")
    assert "Port" not in link


def test_merge_central_config_applies_defaults_to_proxies_only(http):
    register(http, {"Name": "web", "Port": 80, "Connect": {"SidecarService": {}}})
    put_config(http, {"Kind": "proxy-defaults", "Name": "global", "Config": {"max_conn": 5}})
    put_config(http, {"Kind": "service-defaults", "Name": "web", "Protocol": "http"})
    plain = http.get("/v1/catalog/service/web-sidecar-proxy").json()[0]["ServiceProxy"]
    assert "Config" not in plain
    merged = http.get(
        "/v1/catalog/service/web-sidecar-proxy", params={"merge-central-config": ""}
    ).json()[0]["ServiceProxy"]
    assert merged["Config"] == {"max_conn": 5, "protocol": "http"}
    health = http.get("/v1/health/connect/web", params={"merge-central-config": "true"}).json()
    assert health[0]["Service"]["Proxy"]["Config"]["protocol"] == "http"
    service = http.get("/v1/catalog/service/web", params={"merge-central-config": ""}).json()
    assert "Config" not in service[0]["ServiceProxy"]


def test_a_peer_the_cluster_does_not_have_imports_nothing(http):
    register(http, {"Name": "web", "Port": 80, "Connect": {"SidecarService": {}}})
    assert len(http.get("/v1/catalog/service/web").json()) == 1
    assert http.get("/v1/catalog/service/web", params={"peer": "unknown"}).json() == []
    assert http.get("/v1/catalog/connect/web", params={"peer": "unknown"}).json() == []
    assert http.get("/v1/health/connect/web", params={"peer": "unknown"}).json() == []


def test_a_blocking_connect_query_wakes_when_a_sidecar_registers(consul_emulator, http):
    first = http.get("/v1/health/connect/web")
    assert first.json() == []

    def add_sidecar() -> None:
        with httpx.Client(base_url=consul_emulator.addr) as other:
            register(other, {"Name": "web", "Port": 80, "Connect": {"SidecarService": {}}})

    with once_a_query_parks(consul_emulator.consul, add_sidecar) as acted:
        woke = http.get(
            "/v1/health/connect/web",
            params={"index": first.headers["X-Consul-Index"], "wait": "5m"},
            timeout=HANG_BOUND,
        )
    assert acted.is_set()
    assert [e["Service"]["ID"] for e in woke.json()] == ["web-sidecar-proxy"]
    assert int(woke.headers["X-Consul-Index"]) > int(first.headers["X-Consul-Index"])


def test_a_proxy_is_read_under_the_acls_of_the_service_it_fronts(
    consul_emulator_acl: ConsulEmulator,
):
    emulator = consul_emulator_acl
    web_reader = emulator.consul.create_token(
        {"service": {"web": "read"}, "node_prefix": {"": "read"}}
    )
    with httpx.Client(base_url=emulator.addr, headers={"X-Consul-Token": emulator.token}) as admin:
        register(admin, {"Name": "web", "Port": 80, "Connect": {"SidecarService": {}}})
        register(admin, {"Name": "db", "Port": 5432, "Connect": {"SidecarService": {}}})
    with httpx.Client(base_url=emulator.addr, headers={"X-Consul-Token": web_reader}) as http:
        web = http.get("/v1/health/connect/web")
        assert [e["Service"]["ID"] for e in web.json()] == ["web-sidecar-proxy"]
        assert "X-Consul-Results-Filtered-By-ACLs" not in web.headers
        db = http.get("/v1/health/connect/db")
        assert db.json() == []
        assert db.headers["X-Consul-Results-Filtered-By-ACLs"] == "true"
