"""Network coordinates and user events on the emulated agent, through py-consul and HTTP."""

from __future__ import annotations

import threading

import consul
import httpx


def _client(emulator) -> consul.Consul:
    host, port = emulator.addr.rsplit("//", 1)[1].rsplit(":", 1)
    return consul.Consul(host=host, port=int(port))


def test_every_node_starts_at_serfs_origin(consul_emulator):
    c = _client(consul_emulator)
    (dc,) = c.coordinate.datacenters()
    assert (dc["Datacenter"], dc["AreaID"]) == ("dc1", "wan")
    assert dc["Coordinates"][0]["Node"] == "node-1"
    _, nodes = c.coordinate.nodes()
    assert nodes == [
        {
            "Node": "node-1",
            "Segment": "",
            "Coord": {"Vec": [0.0] * 8, "Error": 1.5, "Adjustment": 0.0, "Height": 1e-05},
        }
    ]


def test_an_update_is_read_back_and_wakes_a_blocked_read(consul_emulator):
    c = _client(consul_emulator)
    index, _ = c.coordinate.node("node-1")
    coord = {"Adjustment": 0.1, "Error": 0.5, "Height": 0.01, "Vec": [0.25] * 8}
    got: list = []
    reader = threading.Thread(target=lambda: got.append(c.coordinate.node("node-1", index=index)))
    reader.start()
    assert consul_emulator.consul.wait_for_blocked_queries(1, timeout=30)
    assert c.coordinate.update("node-1", coord) is True
    reader.join(timeout=30)
    new_index, (entry,) = got[0]
    assert int(new_index) > int(index)
    assert entry["Coord"] == coord


def test_bad_or_unknown_updates(consul_emulator):
    with httpx.Client(base_url=consul_emulator.addr) as http:
        bad = http.put("/v1/coordinate/update", json={"Node": "node-1", "Coord": {"Vec": [0]}})
        assert (bad.status_code, bad.text) == (500, "invalid coordinate")
        coord = {"Vec": [0] * 8, "Error": 1.5, "Adjustment": 0, "Height": 0}
        ghost = http.put("/v1/coordinate/update", json={"Node": "ghost", "Coord": coord})
        assert ghost.status_code == 200  # accepted, and dropped: the catalog has no such node
        assert http.get("/v1/coordinate/node/ghost").status_code == 404


def test_fired_events_are_listed_oldest_first_and_by_name(consul_emulator):
    c = _client(consul_emulator)
    first = c.event.fire("deploy", "v1")
    c.event.fire("rollback", "v0")
    assert first["Name"] == "deploy" and first["Version"] == 1
    _, events = c.event.list()
    assert [(e["Name"], e["Payload"], e["LTime"]) for e in events] == [
        ("deploy", b"v1", 1),
        ("rollback", b"v0", 2),
    ]
    _, named = c.event.list(name="rollback")
    assert [e["Name"] for e in named] == ["rollback"]


def test_an_event_for_other_nodes_or_services_does_not_reach_this_agent(consul_emulator):
    c = _client(consul_emulator)
    c.agent.service.register("ledger", tags=["primary"])
    c.event.fire("a", node="^other$")
    c.event.fire("b", service="ledger", tag="replica")
    c.event.fire("c", service="ledger", tag="prim")
    _, events = c.event.list()
    assert [e["Name"] for e in events] == ["c"]
    with httpx.Client(base_url=consul_emulator.addr) as http:
        answer = http.put("/v1/event/fire/x", params={"tag": "t"})
    assert (answer.status_code, answer.text) == (
        500,
        "Cannot provide tag filter without service filter",
    )


def test_listing_blocks_until_the_next_event(consul_emulator):
    c = _client(consul_emulator)
    c.event.fire("deploy")
    index, _ = c.event.list()
    got: list = []
    reader = threading.Thread(target=lambda: got.append(c.event.list(index=index)))
    reader.start()
    assert consul_emulator.consul.wait_for_blocked_queries(1, timeout=30)
    c.event.fire("rollback")
    reader.join(timeout=30)
    new_index, events = got[0]
    assert new_index != index
    assert [e["Name"] for e in events] == ["deploy", "rollback"]


def test_events_need_event_acls(consul_emulator_acl):
    emulator = consul_emulator_acl
    reader = emulator.consul.create_token({"key": {"": "read"}})  # no event rule: denied
    with httpx.Client(base_url=emulator.addr, headers={"X-Consul-Token": reader}) as http:
        denied = http.put("/v1/event/fire/deploy")
    assert denied.status_code == 403
    assert "lacks permission 'event:write' on \"deploy\"" in denied.text
