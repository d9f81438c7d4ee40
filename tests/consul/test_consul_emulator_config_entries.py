"""Config entries on the emulated Consul (``/v1/config``): shapes, defaults, validation with
Consul's texts, check-and-set, blocking reads, and who may write them."""

from __future__ import annotations

import threading

import httpx
from consul_testlib import HANG_BOUND, ConsulEmulator, once_a_query_parks


def test_service_defaults_round_trip_with_consuls_fields(http):
    put = http.put(
        "/v1/config", json={"kind": "service-defaults", "name": "web", "protocol": "HTTP"}
    )
    assert (put.status_code, put.json()) == (200, True)
    got = http.get("/v1/config/service-defaults/web")
    entry = got.json()
    index = entry.pop("CreateIndex")
    assert entry.pop("ModifyIndex") == index
    assert entry == {
        "Kind": "service-defaults",
        "Name": "web",
        "Protocol": "http",
        "TransparentProxy": {},
        "MeshGateway": {},
        "Expose": {},
    }
    assert int(got.headers["X-Consul-Index"]) >= index
    listed = http.get("/v1/config/service-defaults").json()
    assert [e["Name"] for e in listed] == ["web"]
    assert http.get("/v1/config/service-resolver").json() == []


def test_listing_takes_a_filter_over_the_kinds_fields(http):
    for name, protocol in (("a", "http"), ("b", "grpc")):
        body = {"Kind": "service-defaults", "Name": name, "Protocol": protocol}
        assert http.put("/v1/config", json=body | {"Meta": {"tier": name}}).json()
    by_protocol = http.get("/v1/config/service-defaults", params={"filter": 'Protocol == "grpc"'})
    assert [e["Name"] for e in by_protocol.json()] == ["b"]
    by_meta = http.get("/v1/config/service-defaults", params={"filter": 'Meta.tier == "a"'})
    assert [e["Name"] for e in by_meta.json()] == ["a"]
    typo = http.get("/v1/config/service-defaults", params={"filter": 'Protocl == "grpc"'})
    assert (typo.status_code, typo.text) == (
        500,
        'Failed to create boolean expression evaluator: Selector "Protocl" is not valid',
    )


def test_proxy_defaults_is_always_named_global(http):
    assert http.put("/v1/config", json={"Kind": "proxy-defaults", "Config": {"a": 1}}).json()
    entry = http.get("/v1/config/proxy-defaults/global").json()
    assert (entry["Name"], entry["Config"]) == ("global", {"a": 1})
    refused = http.put("/v1/config", json={"Kind": "proxy-defaults", "Name": "other"})
    assert refused.status_code == 500
    assert refused.text == 'invalid name ("other"), only "global" is supported'


def test_missing_entry_and_bad_requests_answer_as_consul(http):
    missing = http.get("/v1/config/service-defaults/nope")
    assert missing.status_code == 404
    assert missing.text == 'Config entry not found for "service-defaults" / "nope"'
    assert "X-Consul-Index" in missing.headers
    unknown_key = http.put("/v1/config", json={"Kind": "service-defaults", "Name": "a", "Port": 1})
    assert unknown_key.status_code == 400
    assert unknown_key.text == (
        'Request decoding failed: 1 error occurred:\n\t* invalid config key "Port"\n\n'
    )
    no_kind = http.put("/v1/config", json={"Name": "a"})
    assert no_kind.status_code == 400
    assert no_kind.text == (
        "Request decoding failed: Payload does not contain a kind/Kind key at the top level"
    )
    bad_kind = http.put("/v1/config", json={"Kind": "service-default", "Name": "a"})
    assert (bad_kind.status_code, bad_kind.text) == (
        400,
        "Request decoding failed: invalid config entry kind: service-default",
    )
    assert http.get("/v1/config/service-default").status_code == 500
    assert http.get("/v1/config/").text == "Must provide either a kind or both kind and name"
    not_modelled = http.get("/v1/config/exported-services")
    assert not_modelled.status_code == 501
    assert "exported-services" in not_modelled.text


def test_check_and_set_on_write_and_delete(http):
    assert http.put(
        "/v1/config", params={"cas": 0}, json={"Kind": "service-defaults", "Name": "a"}
    ).json()
    # cas=0 only creates: the entry now exists
    again = http.put(
        "/v1/config", params={"cas": 0}, json={"Kind": "service-defaults", "Name": "a"}
    )
    assert again.json() is False
    index = http.get("/v1/config/service-defaults/a").json()["ModifyIndex"]
    stale = {"Kind": "service-defaults", "Name": "a", "Protocol": "grpc"}
    assert http.put("/v1/config", params={"cas": index + 1}, json=stale).json() is False
    assert http.put("/v1/config", params={"cas": index}, json=stale).json() is True
    updated = http.get("/v1/config/service-defaults/a").json()
    assert updated["Protocol"] == "grpc"
    assert updated["CreateIndex"] == index and updated["ModifyIndex"] > index
    current = updated["ModifyIndex"]
    refused = http.delete("/v1/config/service-defaults/a", params={"cas": current - 1})
    assert refused.json() is False
    assert http.delete("/v1/config/service-defaults/a", params={"cas": current}).json() is True
    assert http.get("/v1/config/service-defaults/a").status_code == 404
    # without cas a delete answers an empty object, even for an entry that is not there
    assert http.delete("/v1/config/service-defaults/a").json() == {}


def test_gateway_entries_are_validated_as_consul_does(http):
    tcp_two = {
        "Kind": "ingress-gateway",
        "Name": "edge",
        "Listeners": [{"Port": 80, "Services": [{"Name": "a"}, {"Name": "b"}]}],
    }
    response = http.put("/v1/config", json=tcp_two)
    assert response.status_code == 500
    assert response.text == (
        "multiple services per listener are only supported for L7 protocols, 'http', 'grpc' "
        "and 'http2'"
    )
    ok = {
        "Kind": "ingress-gateway",
        "Name": "edge",
        "Listeners": [{"Port": 80, "Services": [{"Name": "a"}]}],
    }
    assert http.put("/v1/config", json=ok).json() is True
    entry = http.get("/v1/config/ingress-gateway/edge").json()
    assert entry["TLS"] == {"Enabled": False}
    assert entry["Listeners"][0]["Protocol"] == "tcp"  # the default Consul fills in
    split = {"Kind": "service-splitter", "Name": "web", "Splits": [{"Weight": 60}]}
    assert http.put("/v1/config", json=split).text == (
        "the sum of all split weights must be 100, not 60.00"
    )


def test_a_blocking_read_of_an_entry_wakes_on_its_write(consul_emulator, http):
    assert http.put("/v1/config", json={"Kind": "service-defaults", "Name": "web"}).json()
    first = http.get("/v1/config/service-defaults/web")
    index = first.headers["X-Consul-Index"]

    def write() -> None:
        body = {"Kind": "service-defaults", "Name": "web", "Protocol": "http"}
        with httpx.Client(base_url=consul_emulator.addr) as other:
            assert other.put("/v1/config", json=body).json() is True

    with once_a_query_parks(consul_emulator.consul, write) as acted:
        woke = http.get(
            "/v1/config/service-defaults/web",
            params={"index": index, "wait": "5m"},
            timeout=HANG_BOUND,
        )
    assert acted.is_set()
    assert int(woke.headers["X-Consul-Index"]) > int(index)
    assert woke.json()["Protocol"] == "http"


def test_writes_need_the_kinds_permission(consul_emulator_acl: ConsulEmulator):
    emulator = consul_emulator_acl
    writer = emulator.consul.create_token({"service": {"web": "write"}})
    with httpx.Client(base_url=emulator.addr) as http:
        as_writer = {"X-Consul-Token": writer}
        ok = http.put(
            "/v1/config", json={"Kind": "service-defaults", "Name": "web"}, headers=as_writer
        )
        assert ok.json() is True
        other = http.put(
            "/v1/config", json={"Kind": "service-defaults", "Name": "db"}, headers=as_writer
        )
        assert other.status_code == 403
        assert "lacks permission 'service:write' on \"db\"" in other.text
        mesh = http.put("/v1/config", json={"Kind": "proxy-defaults"}, headers=as_writer)
        assert mesh.status_code == 403
        assert "lacks permission 'mesh:write'" in mesh.text
        anonymous = http.get("/v1/config/service-defaults")
        assert anonymous.json() == []
        listed = http.get("/v1/config/service-defaults", headers=as_writer)
        assert [e["Name"] for e in listed.json()] == ["web"]


def test_concurrent_cas_writes_apply_once(consul_emulator, http):
    assert http.put("/v1/config", json={"Kind": "service-defaults", "Name": "x"}).json()
    index = http.get("/v1/config/service-defaults/x").json()["ModifyIndex"]
    results: list[bool] = []
    lock = threading.Lock()

    def writer(protocol: str) -> None:
        body = {"Kind": "service-defaults", "Name": "x", "Protocol": protocol}
        with httpx.Client(base_url=consul_emulator.addr) as client:
            answer = client.put("/v1/config", params={"cas": index}, json=body).json()
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("http", "grpc", "http2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_BOUND)
    assert sorted(results) == [False, False, True]
