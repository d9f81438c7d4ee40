"""``/v1/kv/`` and ``/v1/session/...`` handlers, after ``agent/kvs_endpoint.go`` and
``agent/session_endpoint.go``.

Reads are blocking queries (``index``/``wait``) like every Consul read; a missing key, or an
empty listing under a prefix, is a bare 404 that still carries the ``X-Consul-*`` headers.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import errors, kv_ops
from airflow_provider_nomad.testing.consul.acl import READ, WRITE, Authorizer
from airflow_provider_nomad.testing.consul.kv import MAX_VALUE_SIZE, validate_key
from airflow_provider_nomad.testing.consul.responses import (
    _backend,
    _json,
    _read,
    query_options,
    request_token,
)
from airflow_provider_nomad.testing.consul.sessions import parse_session


def _flags(request: Request) -> set[str]:
    return {key for key, _ in parse_qsl(request.url.query, keep_blank_values=True)}


def _conflict(request: Request, *names: str) -> Response | None:
    """``conflictingFlags``: two of ``names`` at once is a 400 naming the whole query."""
    if len(_flags(request) & set(names)) > 1:
        encoded = urlencode(sorted(parse_qsl(request.url.query, keep_blank_values=True)))
        return Response(f"Conflicting flags: {encoded}\n".encode(), status_code=400)
    return None


def _uint(request: Request, name: str) -> int:
    text = request.query_params.get(name, "")
    if not text.isascii() or not text.isdigit():
        raise errors.ConsulHTTPError(
            500, f"strconv.ParseUint: parsing {errors.go_quote(text)}: invalid syntax"
        )
    return int(text)


def _not_found(headers: dict[str, str]) -> Response:
    return Response(b"", status_code=404, headers=headers)


async def kv_endpoint(request: Request) -> Response:
    raw_path = request.scope.get("raw_path", b"").decode("latin-1")
    if "../" in raw_path or "..\\" in raw_path:
        raise errors.ConsulHTTPError(400, "URL path contains invalid traversal sequence")
    query_options(request)  # bad wait/index answer 400 first, as s.parse does
    key = request.path_params.get("key", "")
    if key:
        validate_key(key)
    if request.method == "GET":
        if "keys" in _flags(request):
            return await _get_keys(request, key)
        return await _get(request, key)
    if request.method == "PUT":
        return await _put(request, key)
    return await _delete(request, key)


async def _get(request: Request, key: str) -> Response:
    recurse = "recurse" in _flags(request)
    if not recurse and not key:
        raise errors.ConsulHTTPError(400, "Missing key name")

    def compute(backend, dc, authz: Authorizer):
        if recurse:
            index, found = dc.kv.listing(key)
        else:
            # KVS.Get checks key:read before looking: 403 whether or not the key exists.
            authz.require("key", key, READ)
            index, entry = dc.kv.get(key)
            found = [entry] if entry is not None else []
        allowed = [e for e in found if authz.allowed("key", e.key, READ)]
        return index, [e.to_api() for e in allowed], len(allowed) != len(found)

    entries, headers = await _read(request, compute)
    if not entries:
        return _not_found(headers)
    if "raw" in _flags(request) and not recurse:
        value = _raw_value(entries[0])
        headers.update(
            {
                "Content-Type": "text/plain",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox",
            }
        )
        return Response(value, headers=headers)
    return _json(request, entries, headers)


def _raw_value(entry: dict[str, Any]) -> bytes:
    return base64.b64decode(entry["Value"]) if entry["Value"] else b""


async def _get_keys(request: Request, prefix: str) -> Response:
    params = request.query_params
    separator = params.get("separator", params.get("seperator", ""))  # both spellings

    def compute(backend, dc, authz: Authorizer):
        index, keys = dc.kv.keys(prefix, separator)
        allowed = [k for k in keys if authz.allowed("key", k, READ)]
        return index, allowed, len(allowed) != len(keys)

    keys, headers = await _read(request, compute)
    if not keys and prefix:
        return _not_found(headers)
    return _json(request, keys, headers)


async def _put(request: Request, key: str) -> Response:
    if not key:
        raise errors.ConsulHTTPError(400, "Missing key name")
    conflict = _conflict(request, "cas", "acquire", "release")
    if conflict is not None:
        return conflict
    flags = set(_flags(request))
    flag_value = _uint(request, "flags") if "flags" in flags else 0
    op, cas, session = kv_ops.SET, 0, ""
    if "cas" in flags:
        op, cas = kv_ops.CAS, _uint(request, "cas")
    if "acquire" in flags:
        op, session = kv_ops.LOCK, request.query_params.get("acquire", "")
    if "release" in flags:
        op, session = kv_ops.UNLOCK, request.query_params.get("release", "")
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_VALUE_SIZE:
        raise errors.ConsulHTTPError(
            413,
            f"Request body({length} bytes) too large, max size: {MAX_VALUE_SIZE} bytes. "
            "See https://developer.hashicorp.com/docs/agent/config/config-files"
            "#kv_max_value_size.",
        )
    value = await request.body()
    backend = _backend(request)
    options = query_options(request)
    dc = backend.datacenter(options.datacenter or None)
    backend.acl.resolve(options.token).require("key", key, WRITE)
    done = kv_ops.kv_apply(
        backend, dc, op, key, value=value, flags=flag_value, cas=cas, session=session
    )
    return _json(request, True if op == kv_ops.SET else done)


async def _delete(request: Request, key: str) -> Response:
    conflict = _conflict(request, "recurse", "cas")
    if conflict is not None:
        return conflict
    flags = _flags(request)
    op = kv_ops.DELETE_TREE if "recurse" in flags else kv_ops.DELETE
    if op == kv_ops.DELETE and not key:
        raise errors.ConsulHTTPError(400, "Missing key name")
    cas = 0
    if "cas" in flags:
        op, cas = kv_ops.DELETE_CAS, _uint(request, "cas")
    backend = _backend(request)
    options = query_options(request)
    dc = backend.datacenter(options.datacenter or None)
    backend.acl.resolve(options.token).require("key", key, WRITE)
    done = kv_ops.kv_apply(backend, dc, op, key, cas=cas)
    return _json(request, done if op == kv_ops.DELETE_CAS else True)


# -- sessions ----------------------------------------------------------------------------------


def _missing(text: str) -> Response:
    return Response(text.encode(), status_code=400)


async def session_create(request: Request) -> Response:
    backend = _backend(request)
    dc = backend.datacenter(request.query_params.get("dc") or None)
    body = None
    raw = await request.body()
    if raw:
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            return Response(f"Request decode failed: {exc.msg}".encode(), status_code=400)
    session = parse_session(body, backend.node_name)
    backend.acl.resolve(request_token(request)).require("session", session.node, WRITE)
    return _json(request, {"ID": kv_ops.session_create(backend, dc, session)})


async def session_destroy(request: Request) -> Response:
    session_id = request.path_params.get("session_id", "")
    if not session_id:
        return _missing("Missing session")
    backend = _backend(request)
    dc = backend.datacenter(request.query_params.get("dc") or None)
    authz = backend.acl.resolve(request_token(request))
    existing = dc.sessions.get(session_id)
    if existing is not None:
        authz.require("session", existing.node, WRITE)
    kv_ops.invalidate(backend, dc, session_id)
    return _json(request, True)


async def session_renew(request: Request) -> Response:
    session_id = request.path_params.get("session_id", "")
    if not session_id:
        return _missing("Missing session")
    backend = _backend(request)
    options = query_options(request)
    dc = backend.datacenter(options.datacenter or None)
    session = kv_ops.session_renew(backend, dc, session_id)
    if session is None:
        return Response(f"Session id '{session_id}' not found".encode(), status_code=404)
    backend.acl.resolve(options.token).require("session", session.node, WRITE)
    return _json(request, [session.to_api()])


def _session_list(select) -> Any:
    async def handler(request: Request) -> Response:
        argument = request.path_params.get("arg")
        if argument is not None and not argument:
            which = "session" if request.url.path.startswith("/v1/session/info") else "node name"
            return _missing(f"Missing {which}")

        def compute(backend, dc, authz: Authorizer):
            ordered = sorted(dc.sessions.values(), key=lambda s: s.id)
            found = [s for s in ordered if select(s, argument)]
            allowed = [s for s in found if authz.allowed("session", s.node, READ)]
            index = max(1, dc.table_index["sessions"])
            return index, [s.to_api() for s in allowed], len(allowed) != len(found)

        sessions, headers = await _read(request, compute)
        return _json(request, sessions, headers)

    return handler


session_info = _session_list(lambda s, arg: s.id == arg)
session_node = _session_list(lambda s, arg: s.node == arg)
session_list = _session_list(lambda s, arg: True)
