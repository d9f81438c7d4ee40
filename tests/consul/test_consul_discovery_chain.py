"""Discovery chains compiled by the emulated Consul (``/v1/discovery-chain``)."""

from __future__ import annotations

import httpx


def put_config(http: httpx.Client, body: dict) -> None:
    response = http.put("/v1/config", json=body)
    assert (response.status_code, response.json()) == (200, True), response.text


def test_the_default_chain_is_one_resolver(http):
    trust_domain = http.get("/v1/connect/ca/roots").json()["TrustDomain"]
    chain = http.get("/v1/discovery-chain/web").json()["Chain"]
    target_id = "web.default.default.dc1"
    assert chain == {
        "ServiceName": "web",
        "Namespace": "default",
        "Partition": "default",
        "Datacenter": "dc1",
        "Default": True,
        "Protocol": "tcp",
        "StartNode": f"resolver:{target_id}",
        "Nodes": {
            f"resolver:{target_id}": {
                "Type": "resolver",
                "Name": target_id,
                "Resolver": {"ConnectTimeout": "5s", "Default": True, "Target": target_id},
            }
        },
        "Targets": {
            target_id: {
                "ConnectTimeout": "5s",
                "ID": target_id,
                "Service": "web",
                "Namespace": "default",
                "Partition": "default",
                "Datacenter": "dc1",
                "MeshGateway": {},
                "Subset": {},
                "TransparentProxy": {},
                "SNI": f"web.default.dc1.internal.{trust_domain}",
                "Name": f"web.default.dc1.internal.{trust_domain}",
            }
        },
        "AutoVirtualIPs": None,
        "ManualVirtualIPs": None,
    }
    elsewhere = http.get("/v1/discovery-chain/web", params={"compile-dc": "dc2"}).json()
    assert elsewhere["Chain"]["StartNode"] == "resolver:web.default.default.dc2"


def test_overrides_customize_the_chain(http):
    plain = http.get("/v1/discovery-chain/web").json()["Chain"]
    assert "CustomizationHash" not in plain
    chain = http.post(
        "/v1/discovery-chain/web",
        json={"OverrideProtocol": "http", "override_connect_timeout": "2s"},
    ).json()["Chain"]
    assert chain["Protocol"] == "http"
    assert len(chain["CustomizationHash"]) == 8
    [target] = chain["Targets"].values()
    assert target["ConnectTimeout"] == "2s"
    bad = http.post("/v1/discovery-chain/web", json={"OverrideMeshGateway": {"Mode": "far"}})
    assert (bad.status_code, bad.text) == (400, "Invalid OverrideMeshGateway.Mode parameter")


def test_a_splitter_over_resolver_subsets(http):
    put_config(http, {"Kind": "service-defaults", "Name": "web", "Protocol": "http"})
    put_config(
        http,
        {
            "Kind": "service-resolver",
            "Name": "web",
            "DefaultSubset": "v1",
            "ConnectTimeout": "3s",
            "Subsets": {
                "v1": {"Filter": "Service.Meta.version == v1"},
                "v2": {"Filter": "Service.Meta.version == v2"},
            },
        },
    )
    put_config(
        http,
        {
            "Kind": "service-splitter",
            "Name": "web",
            "Splits": [{"Weight": 90}, {"Weight": 10, "ServiceSubset": "v2"}],
        },
    )
    chain = http.get("/v1/discovery-chain/web").json()["Chain"]
    assert "Default" not in chain
    assert chain["StartNode"] == "splitter:web.default.default"
    splits = chain["Nodes"]["splitter:web.default.default"]["Splits"]
    assert [(s["Weight"], s["NextNode"]) for s in splits] == [
        (90, "resolver:v1.web.default.default.dc1"),
        (10, "resolver:v2.web.default.default.dc1"),
    ]
    v2 = chain["Targets"]["v2.web.default.default.dc1"]
    assert (v2["ServiceSubset"], v2["ConnectTimeout"]) == ("v2", "3s")
    assert v2["Subset"] == {"Filter": "Service.Meta.version == v2"}
    assert v2["SNI"].startswith("v2.web.default.dc1.internal.")
    # a tcp override drops the splitter
    tcp = http.post("/v1/discovery-chain/web", json={"OverrideProtocol": "tcp"}).json()["Chain"]
    assert tcp["StartNode"] == "resolver:v1.web.default.default.dc1"


def test_a_router_gets_a_catch_all_route(http):
    put_config(http, {"Kind": "service-defaults", "Name": "web", "Protocol": "http"})
    router = {
        "Kind": "service-router",
        "Name": "web",
        "Routes": [
            {"Match": {"HTTP": {"PathPrefix": "/admin"}}, "Destination": {"Service": "admin"}}
        ],
    }
    mixed = http.put("/v1/config", json=router)
    assert (mixed.status_code, mixed.text) == (
        500,
        'discovery chain "web" uses inconsistent protocols; service "admin" has "tcp" which is '
        'not "http"',
    )
    put_config(http, {"Kind": "service-defaults", "Name": "admin", "Protocol": "http"})
    put_config(http, router)
    chain = http.get("/v1/discovery-chain/web").json()["Chain"]
    routes = chain["Nodes"][chain["StartNode"]]["Routes"]
    assert [r["NextNode"] for r in routes] == [
        "resolver:admin.default.default.dc1",
        "resolver:web.default.default.dc1",
    ]
    assert routes[-1]["Definition"]["Match"] == {"HTTP": {"PathPrefix": "/"}}
    assert set(chain["Targets"]) == {"admin.default.default.dc1", "web.default.default.dc1"}


def test_entries_that_break_the_chain_are_refused(http):
    router = {"Kind": "service-router", "Name": "web", "Routes": []}
    response = http.put("/v1/config", json=router)
    assert (response.status_code, response.text) == (
        500,
        'discovery chain "web" uses a protocol "tcp" that does not permit advanced routing or '
        "splitting behavior",
    )
    put_config(http, {"Kind": "service-resolver", "Name": "a", "Redirect": {"Service": "b"}})
    loop = http.put(
        "/v1/config", json={"Kind": "service-resolver", "Name": "b", "Redirect": {"Service": "a"}}
    )
    assert loop.status_code == 500
    assert loop.text.startswith("detected circular resolver redirect: [")
    subset = http.put(
        "/v1/config",
        json={"Kind": "service-resolver", "Name": "c", "DefaultSubset": "missing"},
    )
    assert subset.text == 'service "c" does not have a subset named "missing"'
