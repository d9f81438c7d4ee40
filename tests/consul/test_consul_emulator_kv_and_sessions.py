"""The emulated Consul's KV store and sessions, through py-consul and raw HTTP: get, put,
delete, recurse, keys, check-and-set, blocking queries, locks held by sessions."""

from __future__ import annotations

import threading

import consul
import httpx
import pytest
from consul_testlib import HANG_BOUND, ConsulEmulator


@pytest.fixture
def kv(consul_emulator: ConsulEmulator) -> consul.Consul:
    host, port = consul_emulator.addr.rsplit(":", 1)
    return consul.Consul(host=host.split("//")[1], port=int(port))


def test_put_get_and_the_entry_shape(kv, http):
    assert kv.kv.put("batch/settlement", "2024-06-30", flags=42) is True
    index, entry = kv.kv.get("batch/settlement")
    assert entry["Value"] == b"2024-06-30"
    assert (entry["Flags"], entry["LockIndex"], entry["Key"]) == (42, 0, "batch/settlement")
    assert entry["CreateIndex"] == entry["ModifyIndex"] == int(index)
    raw = http.get("/v1/kv/batch/settlement").json()
    assert raw == [
        {
            "LockIndex": 0,
            "Key": "batch/settlement",
            "Flags": 42,
            "Value": "MjAyNC0wNi0zMA==",
            "CreateIndex": entry["CreateIndex"],
            "ModifyIndex": entry["ModifyIndex"],
        }
    ]
    plain = http.get("/v1/kv/batch/settlement", params={"raw": ""})
    assert plain.content == b"2024-06-30"
    assert plain.headers["content-type"] == "text/plain"
    assert plain.headers["x-content-type-options"] == "nosniff"


def test_missing_key_is_a_bare_404_with_an_index(http):
    response = http.get("/v1/kv/nope")
    assert (response.status_code, response.content) == (404, b"")
    assert int(response.headers["X-Consul-Index"]) >= 1
    assert http.get("/v1/kv/", params={"recurse": ""}).status_code == 404


def test_recurse_keys_and_separator(kv):
    for key in ("app/a", "app/b/c", "app/b/d", "other"):
        kv.kv.put(key, "v")
    _, entries = kv.kv.get("app/", recurse=True)
    assert [e["Key"] for e in entries] == ["app/a", "app/b/c", "app/b/d"]
    _, keys = kv.kv.get("app/", keys=True)
    assert keys == ["app/a", "app/b/c", "app/b/d"]
    _, folded = kv.kv.get("app/", keys=True, separator="/")
    assert folded == ["app/a", "app/b/"]
    _, none = kv.kv.get("zzz/", keys=True)
    assert none is None  # a 404 for an empty prefix


def test_check_and_set(kv):
    assert kv.kv.put("cas", "first", cas=0) is True
    assert kv.kv.put("cas", "again", cas=0) is False  # only if absent
    _, entry = kv.kv.get("cas")
    assert kv.kv.put("cas", "stale", cas=entry["ModifyIndex"] + 1) is False
    assert kv.kv.put("cas", "second", cas=entry["ModifyIndex"]) is True
    _, entry = kv.kv.get("cas")
    assert entry["Value"] == b"second"
    assert kv.kv.delete("cas", cas=entry["ModifyIndex"] + 1) is False
    assert kv.kv.delete("cas", cas=entry["ModifyIndex"]) is True
    assert kv.kv.get("cas")[1] is None


def test_delete_and_recursive_delete(kv):
    for key in ("tree/a", "tree/b", "keep"):
        kv.kv.put(key, "v")
    assert kv.kv.delete("tree", recurse=True) is True
    assert kv.kv.get("tree", recurse=True)[1] is None
    assert kv.kv.get("keep")[1]["Value"] == b"v"


def test_a_blocking_get_returns_when_the_key_changes(kv, consul_emulator):
    kv.kv.put("watched", "1")
    index, _ = kv.kv.get("watched")
    result = {}

    def block():
        result["reply"] = kv.kv.get("watched", index=index, wait="30s")

    reader = threading.Thread(target=block)
    reader.start()
    assert consul_emulator.consul.wait_for_blocked_queries(1, timeout=HANG_BOUND)
    kv.kv.put("watched", "2")
    reader.join(HANG_BOUND)
    assert not reader.is_alive()
    new_index, entry = result["reply"]
    assert entry["Value"] == b"2"
    assert int(new_index) > int(index)


def test_a_blocked_listing_wakes_when_a_key_under_it_is_deleted(kv, consul_emulator):
    kv.kv.put("dir/x", "1")
    index, _ = kv.kv.get("dir/", recurse=True)
    result = {}

    def block():
        result["reply"] = kv.kv.get("dir/", recurse=True, index=index, wait="30s")

    reader = threading.Thread(target=block)
    reader.start()
    assert consul_emulator.consul.wait_for_blocked_queries(1, timeout=HANG_BOUND)
    kv.kv.delete("dir/x")
    reader.join(HANG_BOUND)
    assert not reader.is_alive()
    new_index, entries = result["reply"]
    assert entries is None and int(new_index) > int(index)  # the tombstone's index


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "text"),
    [
        ("GET", "/v1/kv/", {}, 400, "Missing key name"),
        ("PUT", "/v1/kv/", {}, 400, "Missing key name"),
        (
            "PUT",
            "/v1/kv/k",
            {"cas": "1", "acquire": "s"},
            400,
            "Conflicting flags: acquire=s&cas=1\n",
        ),
        ("PUT", "/v1/kv/k", {"flags": "x"}, 500, 'strconv.ParseUint: parsing "x": invalid syntax'),
        (
            "PUT",
            "/v1/kv/k",
            {"acquire": "no-such-session"},
            500,
            'invalid session "no-such-session"',
        ),
        (
            "PUT",
            "/v1/kv/a b",
            {},
            400,
            "key contains invalid character ' ' at position 1. "
            "Only alphanumeric characters and ,-_./ are allowed",
        ),
        ("PATCH", "/v1/kv/k", {}, 405, "method PATCH not allowed"),
    ],
)
def test_kv_errors(http, method, path, params, status, text):
    response = http.request(method, path, params=params, content=b"v")
    assert (response.status_code, response.text) == (status, text)


def test_a_session_lock_is_exclusive_and_released_on_destroy(kv):
    first = kv.session.create(name="leader", lock_delay=0)
    second = kv.session.create(name="follower", lock_delay=0)
    _, info = kv.session.info(first)
    assert (info["Name"], info["Node"], info["Behavior"]) == ("leader", "node-1", "release")
    assert info["NodeChecks"] == ["serfHealth"]
    assert kv.kv.put("lock", "a", acquire=first) is True
    assert kv.kv.put("lock", "b", acquire=second) is False
    _, held = kv.kv.get("lock")
    assert (held["Session"], held["LockIndex"], held["Value"]) == (first, 1, b"a")
    assert kv.kv.put("lock", "c", release=second) is False  # not the holder
    assert kv.session.destroy(first) is True
    _, freed = kv.kv.get("lock")
    assert "Session" not in freed and freed["LockIndex"] == 1
    assert kv.kv.put("lock", "b", acquire=second) is True
    assert kv.kv.get("lock")[1]["LockIndex"] == 2
    assert [s["ID"] for s in kv.session.list()[1]] == [second]
    assert kv.session.info(first)[1] is None


def test_lock_delay_holds_keys_after_an_invalidation(kv):
    holder = kv.session.create(lock_delay=60)
    other = kv.session.create(lock_delay=0)
    assert kv.kv.put("delayed", "x", acquire=holder)
    kv.session.destroy(holder)
    assert kv.kv.put("delayed", "y", acquire=other) is False  # within the 60 s lock-delay


def test_a_delete_session_deletes_its_keys(kv):
    session = kv.session.create(behavior="delete", lock_delay=0)
    kv.kv.put("ephemeral", "x", acquire=session)
    kv.session.destroy(session)
    assert kv.kv.get("ephemeral")[1] is None


def test_a_critical_check_invalidates_the_session(kv, consul_emulator):
    session = kv.session.create(lock_delay=0)
    kv.kv.put("health-bound", "x", acquire=session)
    consul_emulator.consul.set_serf_health(False)
    assert kv.session.info(session)[1] is None
    assert "Session" not in kv.kv.get("health-bound")[1]
    with pytest.raises(consul.ConsulException, match="Check 'serfHealth' is in critical state"):
        kv.session.create()


def test_session_validation_and_renew(kv, http):
    bad_ttl = http.put("/v1/session/create", json={"TTL": "1s"})
    assert (bad_ttl.status_code, bad_ttl.text) == (
        500,
        "Invalid Session TTL '1000000000', must be between [10s=24h0m0s]",
    )
    bad_behavior = http.put("/v1/session/create", json={"Behavior": "explode"})
    assert bad_behavior.text == "Invalid Behavior setting 'explode'"
    session = kv.session.create(ttl=30)
    renewed = kv.session.renew(session)
    assert renewed["ID"] == session and renewed["TTL"] == "30s"
    missing = http.put("/v1/session/renew/00000000-0000-0000-0000-000000000000")
    assert (missing.status_code, missing.text) == (
        404,
        "Session id '00000000-0000-0000-0000-000000000000' not found",
    )
    assert http.get("/v1/session/info/nope").json() == []
    assert http.get("/v1/session/node/node-1").json()[0]["ID"] == session


def test_kv_acls_follow_key_rules(consul_emulator_acl: ConsulEmulator):
    reader = consul_emulator_acl.consul.create_token(
        {"key_prefix": {"public/": {"policy": "read"}}}
    )
    admin = consul_emulator_acl.token
    with httpx.Client(base_url=consul_emulator_acl.addr) as http:
        assert http.put("/v1/kv/public/a", content=b"1", headers={"X-Consul-Token": admin}).json()
        http.put("/v1/kv/private/b", content=b"2", headers={"X-Consul-Token": admin})
        allowed = http.get("/v1/kv/public/a", headers={"X-Consul-Token": reader})
        assert allowed.status_code == 200
        denied = http.put("/v1/kv/public/a", content=b"x", headers={"X-Consul-Token": reader})
        assert denied.status_code == 403
        assert "lacks permission 'key:write'" in denied.text
        listing = http.get("/v1/kv/", params={"recurse": ""}, headers={"X-Consul-Token": reader})
        assert [e["Key"] for e in listing.json()] == ["public/a"]
        assert listing.headers["X-Consul-Results-Filtered-By-ACLs"] == "true"
