"""Snapshots of the emulated datacenter: save, change, restore, and what a restore wakes."""

from __future__ import annotations

import gzip
import io
import tarfile
import threading

import consul
import httpx


def _client(emulator, token: str | None = None) -> consul.Consul:
    host, port = emulator.addr.rsplit("//", 1)[1].rsplit(":", 1)
    return consul.Consul(host=host, port=int(port), token=token)


def test_a_restore_brings_back_kv_catalog_and_sessions(consul_emulator_acl):
    emulator = consul_emulator_acl
    c = _client(emulator, emulator.token)
    c.kv.put("settlement/date", "2026-12-04")
    c.agent.service.register("ledger", service_id="ledger-1", tags=["v1"])
    session = c.session.create(ttl=60)
    c.kv.put("settlement/lock", "me", acquire=session)
    saved = c.snapshot.save()
    assert saved[:2] == b"\x1f\x8b"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(saved))) as tar:
        assert sorted(tar.getnames()) == ["SHA256SUMS", "meta.json", "state.json"]

    c.kv.put("settlement/date", "2026-12-05")
    c.kv.put("settlement/extra", "x")
    c.agent.service.deregister("ledger-1")
    c.session.destroy(session)
    assert c.snapshot.restore(saved) is True

    assert c.kv.get("settlement/date")[1]["Value"] == b"2026-12-04"
    assert c.kv.get("settlement/extra")[1] is None
    assert c.kv.get("settlement/lock")[1]["Session"] == session
    assert [s["ID"] for s in c.session.list()[1]] == [session]
    _, nodes = c.health.service("ledger")
    assert [n["Service"]["Tags"] for n in nodes] == [["v1"]]


def test_a_restore_wakes_blocked_queries(consul_emulator):
    c = _client(consul_emulator)
    c.kv.put("k", "before")
    saved = c.snapshot.save()
    c.kv.put("k", "after")
    index, _ = c.kv.get("k")
    got: list = []
    reader = threading.Thread(target=lambda: got.append(c.kv.get("k", index=index)))
    reader.start()
    assert consul_emulator.consul.wait_for_blocked_queries(1, timeout=30)
    c.snapshot.restore(saved)
    reader.join(timeout=30)
    assert got[0][1]["Value"] == b"before"


def test_snapshots_need_a_management_token(consul_emulator_acl):
    emulator = consul_emulator_acl
    operator = emulator.consul.create_token({"key": {"": "write"}, "node": {"": "write"}})
    with httpx.Client(base_url=emulator.addr, headers={"X-Consul-Token": operator}) as http:
        denied = http.get("/v1/snapshot")
    assert denied.status_code == 403
    assert "lacks permission 'acl:write'" in denied.text


def test_a_damaged_snapshot_is_refused_and_changes_nothing(consul_emulator):
    c = _client(consul_emulator)
    c.kv.put("k", "v")
    with httpx.Client(base_url=consul_emulator.addr) as http:
        garbage = http.put("/v1/snapshot", content=b"not a snapshot")
        assert garbage.status_code == 500
        assert garbage.text.startswith("failed to read snapshot file: ")
        saved = http.get("/v1/snapshot").content
        files = {}
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(saved))) as tar:
            for member in tar.getmembers():
                files[member.name] = tar.extractfile(member).read()
        files["state.json"] = files["state.json"].replace(b'"k"', b'"x"')
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        tampered = http.put("/v1/snapshot", content=buffer.getvalue())
    assert (tampered.status_code, tampered.text) == (
        500,
        "failed checking integrity of snapshot: state.json",
    )
    assert c.kv.get("k")[1]["Value"] == b"v"


def test_a_restore_leaves_what_the_snapshot_does_not_carry(consul_emulator):
    with httpx.Client(base_url=consul_emulator.addr) as http:
        saved = http.get("/v1/snapshot").content
        entry = {"Kind": "service-defaults", "Name": "ledger", "Protocol": "http"}
        assert http.put("/v1/config", json=entry).status_code == 200
        assert http.put("/v1/snapshot", content=saved).status_code == 200
        kept = http.get("/v1/config/service-defaults/ledger")
    assert kept.status_code == 200
    assert kept.json()["Protocol"] == "http"
