"""Contract of Consul's service-mesh API as the emulator serves it.

Like ``test_consul_api_contract``, these run against a real Consul agent when
``CONSUL_HTTP_ADDR`` is set (``CONSUL_HTTP_TOKEN`` for an ACL-enabled one; Connect enabled, as
in ``consul agent -dev``), else against the emulator. Every name is unique and every test
removes what it wrote, since a real agent is shared.
"""

from __future__ import annotations

import httpx
from consul_testlib import ConsulTarget, unique


def _http(target: ConsulTarget) -> httpx.Client:
    headers = {"X-Consul-Token": target.token} if target.token else {}
    return httpx.Client(base_url=target.addr, headers=headers, timeout=30)


def test_config_entry_write_read_cas_delete(consul_target: ConsulTarget):
    name = unique("defaults")
    path = f"/v1/config/service-defaults/{name}"
    with _http(consul_target) as http:
        try:
            body = {"Kind": "service-defaults", "Name": name, "Protocol": "HTTP"}
            assert http.put("/v1/config", json=body).json() is True
            entry = http.get(path).json()
            assert (entry["Kind"], entry["Name"], entry["Protocol"]) == (
                "service-defaults",
                name,
                "http",
            )
            stale = http.put("/v1/config", params={"cas": entry["ModifyIndex"] + 1000}, json=body)
            assert stale.json() is False
            assert http.delete(path, params={"cas": entry["ModifyIndex"]}).json() is True
            missing = http.get(path)
            assert missing.status_code == 404
            assert missing.text == f'Config entry not found for "service-defaults" / "{name}"'
        finally:
            http.delete(path)


def test_sidecar_is_derived_from_its_parent(consul_target: ConsulTarget):
    name = unique("mesh")
    with _http(consul_target) as http:
        try:
            registered = http.put(
                "/v1/agent/service/register",
                json={"Name": name, "ID": name, "Port": 8080, "Connect": {"SidecarService": {}}},
            )
            assert registered.status_code == 200, registered.text
            sidecar = http.get("/v1/agent/services").json()[f"{name}-sidecar-proxy"]
            assert sidecar["Kind"] == "connect-proxy"
            assert sidecar["Service"] == f"{name}-sidecar-proxy"
            assert 21000 <= sidecar["Port"] <= 21255
            proxy = sidecar["Proxy"]
            assert (proxy["DestinationServiceName"], proxy["DestinationServiceID"]) == (name, name)
            assert (proxy["LocalServiceAddress"], proxy["LocalServicePort"]) == ("127.0.0.1", 8080)
            connect = http.get(f"/v1/health/connect/{name}").json()
            assert [entry["Service"]["ID"] for entry in connect] == [f"{name}-sidecar-proxy"]
        finally:
            http.put(f"/v1/agent/service/deregister/{name}")
        assert f"{name}-sidecar-proxy" not in http.get("/v1/agent/services").json()


def test_exact_intention_round_trip(consul_target: ConsulTarget):
    source, destination = unique("src"), unique("dst")
    params = {"source": source, "destination": destination}
    with _http(consul_target) as http:
        try:
            put = http.put("/v1/connect/intentions/exact", params=params, json={"Action": "deny"})
            assert put.json() is True
            intention = http.get("/v1/connect/intentions/exact", params=params).json()
            assert (intention["SourceName"], intention["DestinationName"]) == (source, destination)
            assert (intention["Action"], intention["Precedence"]) == ("deny", 9)
            check = http.get("/v1/connect/intentions/check", params=params).json()
            assert check == {"Allowed": False}
        finally:
            http.delete("/v1/connect/intentions/exact", params=params)
        missing = http.get("/v1/connect/intentions/exact", params=params)
        assert missing.status_code == 404


def test_default_discovery_chain(consul_target: ConsulTarget):
    name = unique("chain")
    with _http(consul_target) as http:
        trust_domain = http.get("/v1/connect/ca/roots").json()["TrustDomain"]
        datacenter = http.get("/v1/agent/self").json()["Config"]["Datacenter"]
        chain = http.get(f"/v1/discovery-chain/{name}").json()["Chain"]
    target_id = f"{name}.default.default.{datacenter}"
    assert chain["ServiceName"] == name
    assert (chain["Default"], chain["Protocol"]) == (True, "tcp")
    assert chain["StartNode"] == f"resolver:{target_id}"
    resolver = chain["Nodes"][chain["StartNode"]]["Resolver"]
    assert resolver == {"ConnectTimeout": "5s", "Default": True, "Target": target_id}
    target = chain["Targets"][target_id]
    assert target["SNI"] == f"{name}.default.{datacenter}.internal.{trust_domain}"
