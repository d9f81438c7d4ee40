"""``PUT /v1/txn``: KV operations applied all or nothing, after ``agent/txn_endpoint.go`` and
``agent/consul/state/txn.go``.

Every operation of a transaction runs against the same Raft index; when any fails (a stale
check-and-set, a lock held by another session, a key that must exist...) every error is
reported with its operation's position and the store goes back to what it was: 409 Conflict.
Only KV operations are emulated: a transaction with Node/Service/Check/Session operations is
refused naming them, rather than half applied.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl import READ, WRITE, Authorizer
from airflow_provider_nomad.testing.consul.kv import MAX_VALUE_SIZE, KVEntry, KVStore
from airflow_provider_nomad.testing.consul.responses import (
    _backend,
    _json,
    _read_headers,
    query_options,
)

MAX_TXN_OPS = 128  # agent/txn_endpoint.go: maxTxnOps
READ_VERBS = {"get", "get-tree", "check-index", "check-session", "check-not-exists"}
WRITE_VERBS = {"set", "cas", "lock", "unlock", "delete", "delete-cas", "delete-tree"}
OTHER_OPS = ("node", "service", "check", "session")


@dataclass(frozen=True)
class KVOp:
    """One ``{"KV": {...}}`` operation (``api.KVTxnOp``)."""

    verb: str
    key: str
    value: bytes
    flags: int
    index: int
    session: str


class TxnOpError(Exception):
    """One operation failed; its text is the ``What`` of the ``TxnError``."""


def _lower_keys(obj: Any) -> dict[str, Any]:
    # encoding/json matches struct fields case-insensitively
    return {str(k).lower(): v for k, v in obj.items()} if isinstance(obj, dict) else {}


def _parse_body(raw: bytes) -> list[KVOp]:
    try:
        body = json.loads(raw) if raw.strip() else None
    except json.JSONDecodeError as exc:
        raise errors.ConsulHTTPError(400, f"Failed to parse body: {exc.msg}") from exc
    if not isinstance(body, list):
        raise errors.ConsulHTTPError(
            400,
            "Failed to parse body: json: cannot unmarshal "
            f"{type(body).__name__} into Go value of type api.TxnOps",
        )
    if len(body) > MAX_TXN_OPS:
        raise errors.ConsulHTTPError(
            413, f"Transaction contains too many operations ({len(body)} > {MAX_TXN_OPS})"
        )
    ops: list[KVOp] = []
    for raw_op in body:
        op = _lower_keys(raw_op)
        others = sorted(name.capitalize() for name in OTHER_OPS if op.get(name))
        if others:
            raise errors.ConsulHTTPError(
                501,
                "the Consul emulator does not implement transaction operations on "
                f"{', '.join(others)} (only KV)",
            )
        kv = _lower_keys(op.get("kv"))
        ops.append(_parse_kv(kv))
    return ops


def _parse_kv(kv: dict[str, Any]) -> KVOp:
    key = str(kv.get("key") or "")
    value = b""
    if kv.get("value"):
        try:
            value = base64.b64decode(str(kv["value"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.ConsulHTTPError(400, f"Failed to parse body: {exc}") from exc
    if len(value) > MAX_VALUE_SIZE:
        raise errors.ConsulHTTPError(
            413,
            f"Value for key {errors.go_quote(key)} is too large "
            f"({len(value)} > {MAX_VALUE_SIZE} bytes)",
        )
    return KVOp(
        verb=str(kv.get("verb") or ""),
        key=key,
        value=value,
        flags=int(kv.get("flags") or 0),
        index=int(kv.get("index") or 0),
        session=str(kv.get("session") or ""),
    )


def _blank(entry: KVEntry) -> dict[str, Any]:
    """Writes and checks answer the entry without its value (state store ``txnKVS``)."""
    return {"KV": entry.to_api() | {"Value": None}}


def _apply(store: KVStore, sessions: dict, index: int, op: KVOp) -> list[dict[str, Any]]:
    """Run one operation on ``store``; its results, or :class:`TxnOpError`."""
    key, quoted = op.key, errors.go_quote(op.key)
    verb = op.verb
    if verb == "set":
        store.set(index, key, op.value, op.flags)
    elif verb == "cas":
        if not store.cas(index, key, op.value, op.flags, op.index):
            raise TxnOpError(f"failed to set key {quoted}, index is stale")
    elif verb == "lock":
        if not op.session:
            raise TxnOpError("missing session")
        if op.session not in sessions:
            raise TxnOpError(f"invalid session {errors.go_quote(op.session)}")
        if not store.lock(index, key, op.value, op.flags, op.session):
            raise TxnOpError(f"failed to lock key {quoted}, lock is already held")
    elif verb == "unlock":
        if not store.unlock(index, key, op.value, op.flags, op.session):
            raise TxnOpError(
                f"failed to unlock key {quoted}, lock isn't held, or is held by another session"
            )
    elif verb == "delete":
        store.delete(index, key)
        return []
    elif verb == "delete-cas":
        if not store.delete_cas(index, key, op.index):  # an absent key counts as deleted
            raise TxnOpError(f"failed to delete key {quoted}, index is stale")
        return []
    elif verb == "delete-tree":
        store.delete_tree(index, key)
        return []
    elif verb == "get":
        entry = store.entries.get(key)
        if entry is None:
            raise TxnOpError(f"key {quoted} doesn't exist")
        return [{"KV": entry.to_api()}]
    elif verb == "get-tree":
        return [{"KV": entry.to_api()} for entry in store.listing(key)[1]]
    elif verb == "check-index":
        entry = store.entries.get(key)
        if entry is None:
            raise TxnOpError(f"failed to check index, key {quoted} doesn't exist")
        if entry.modify_index != op.index:
            raise TxnOpError(
                f"failed index check for key {quoted}, current modify index "
                f"{entry.modify_index} != {op.index}"
            )
    elif verb == "check-session":
        entry = store.entries.get(key)
        if entry is None:
            raise TxnOpError(f"failed to check session, key {quoted} doesn't exist")
        if entry.session != op.session:
            raise TxnOpError(
                f"failed session check for key {quoted}, current session "
                f"{errors.go_quote(entry.session)} != {errors.go_quote(op.session)}"
            )
    elif verb == "check-not-exists":
        if key in store.entries:
            raise TxnOpError(f"key {quoted} exists")
        return []
    else:
        raise TxnOpError(f"unknown KV verb {errors.go_quote(verb)}")
    return [_blank(store.entries[key])]


def _permitted(authz: Authorizer, op: KVOp) -> bool:
    access = READ if op.verb in READ_VERBS else WRITE
    return authz.allowed("key", op.key, access)


async def txn(request: Request) -> Response:
    backend = _backend(request)
    options = query_options(request)
    ops = _parse_body(await request.body())
    dc = backend.datacenter(options.datacenter or None)
    authz = backend.acl.resolve(options.token)
    writes = any(op.verb in WRITE_VERBS for op in ops)
    results: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    with backend.lock:
        before = copy.deepcopy(dc.kv)
        index = backend.next_index() if writes else 0
        for position, op in enumerate(ops):
            if not _permitted(authz, op):
                failures.append({"OpIndex": position, "What": errors.PERMISSION_DENIED})
                continue
            try:
                results.extend(_apply(dc.kv, dc.sessions, index, op))
            except TxnOpError as exc:
                failures.append({"OpIndex": position, "What": str(exc)})
        if failures:
            dc.kv = before  # all or nothing
    if writes and not failures:
        backend.feed.notify()
    body = (
        {"Results": None, "Errors": failures}
        if failures
        else {"Results": results or None, "Errors": None}
    )
    headers = None if writes else _read_headers(1, options, authz, False)
    response = _json(request, body, headers)
    if failures:
        response.status_code = 409
    return response


ENDPOINTS = (("/v1/txn", ("PUT",), txn),)
