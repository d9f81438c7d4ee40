"""``/v1/txn`` on the emulated agent through py-consul and raw HTTP: verbs, check-and-set,
session locks, and the all-or-nothing 409 with every failed operation named."""

from __future__ import annotations

import base64

import consul
import httpx


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _client(emulator) -> consul.Consul:
    host, port = emulator.addr.rsplit("//", 1)[1].rsplit(":", 1)
    return consul.Consul(host=host, port=int(port))


def _txn(emulator, ops, token: str | None = None) -> httpx.Response:
    headers = {"X-Consul-Token": token} if token else {}
    with httpx.Client(base_url=emulator.addr, headers=headers) as http:
        return http.put("/v1/txn", json=ops)


def test_set_then_get_returns_the_value_and_writes_answer_without_it(consul_emulator):
    c = _client(consul_emulator)
    written = c.txn.put([{"KV": {"Verb": "set", "Key": "batch/date", "Value": _b64("2026")}}])
    assert written["Errors"] is None
    entry = written["Results"][0]["KV"]
    assert (entry["Key"], entry["Value"], entry["LockIndex"]) == ("batch/date", None, 0)
    read = c.txn.put([{"KV": {"Verb": "get", "Key": "batch/date"}}])
    assert read["Results"][0]["KV"]["Value"] == _b64("2026")
    assert c.kv.get("batch/date")[1]["Value"] == b"2026"


def test_one_transaction_is_one_index(consul_emulator):
    c = _client(consul_emulator)
    answer = c.txn.put(
        [
            {"KV": {"Verb": "set", "Key": "a", "Value": _b64("1")}},
            {"KV": {"Verb": "set", "Key": "b", "Value": _b64("2")}},
        ]
    )
    indexes = {r["KV"]["ModifyIndex"] for r in answer["Results"]}
    assert len(indexes) == 1


def test_a_failed_operation_rolls_back_the_others_with_409(consul_emulator):
    c = _client(consul_emulator)
    c.kv.put("balance", "100")
    _, current = c.kv.get("balance")
    answer = _txn(
        consul_emulator,
        [
            {"KV": {"Verb": "set", "Key": "ledger/posted", "Value": _b64("yes")}},
            {"KV": {"Verb": "cas", "Key": "balance", "Value": _b64("50"), "Index": 1}},
            {"KV": {"Verb": "get", "Key": "missing"}},
            {"KV": {"Verb": "frobnicate", "Key": "x"}},
        ],
    )
    assert answer.status_code == 409
    assert answer.json() == {
        "Results": None,
        "Errors": [
            {"OpIndex": 1, "What": 'failed to set key "balance", index is stale'},
            {"OpIndex": 2, "What": 'key "missing" doesn\'t exist'},
            {"OpIndex": 3, "What": 'unknown KV verb "frobnicate"'},
        ],
    }
    assert c.kv.get("ledger/posted")[1] is None  # nothing of it was applied
    assert c.kv.get("balance")[1]["Value"] == b"100"
    ok = c.txn.put(
        [
            {
                "KV": {
                    "Verb": "cas",
                    "Key": "balance",
                    "Value": _b64("50"),
                    "Index": current["ModifyIndex"],
                }
            }
        ]
    )
    assert ok["Errors"] is None
    assert c.kv.get("balance")[1]["Value"] == b"50"


def test_session_locks_and_checks(consul_emulator):
    c = _client(consul_emulator)
    mine, theirs = c.session.create(), c.session.create()
    locked = c.txn.put([{"KV": {"Verb": "lock", "Key": "leader", "Session": mine}}])
    assert locked["Results"][0]["KV"]["Session"] == mine
    assert locked["Results"][0]["KV"]["LockIndex"] == 1
    held = _txn(consul_emulator, [{"KV": {"Verb": "lock", "Key": "leader", "Session": theirs}}])
    assert held.status_code == 409
    assert held.json()["Errors"][0]["What"] == 'failed to lock key "leader", lock is already held'
    check = _txn(
        consul_emulator, [{"KV": {"Verb": "check-session", "Key": "leader", "Session": theirs}}]
    )
    assert check.json()["Errors"][0]["What"] == (
        f'failed session check for key "leader", current session "{mine}" != "{theirs}"'
    )
    no_session = _txn(consul_emulator, [{"KV": {"Verb": "lock", "Key": "k", "Session": "nope"}}])
    assert no_session.json()["Errors"][0]["What"] == 'invalid session "nope"'
    released = c.txn.put([{"KV": {"Verb": "unlock", "Key": "leader", "Session": mine}}])
    assert "Session" not in released["Results"][0]["KV"]


def test_bad_bodies_and_other_operations_are_refused(consul_emulator):
    answer = _txn(consul_emulator, [{"KV": {"Verb": "set", "Key": "k"}}] * 129)
    assert (answer.status_code, answer.text) == (
        413,
        "Transaction contains too many operations (129 > 128)",
    )
    answer = _txn(consul_emulator, [{"Node": {"Verb": "get", "Node": {"Node": "n"}}}])
    assert answer.status_code == 501
    assert "Node" in answer.text


def test_acl_denied_operations_are_errors_of_the_transaction(consul_emulator_acl):
    emulator = consul_emulator_acl
    reader = emulator.consul.create_token({"key": {"": "read"}})
    answer = _txn(emulator, [{"KV": {"Verb": "set", "Key": "k", "Value": _b64("v")}}], reader)
    assert answer.status_code == 409
    assert answer.json()["Errors"] == [{"OpIndex": 0, "What": "Permission denied"}]
    assert (
        _txn(
            emulator, [{"KV": {"Verb": "set", "Key": "k", "Value": _b64("v")}}], emulator.token
        ).status_code
        == 200
    )
