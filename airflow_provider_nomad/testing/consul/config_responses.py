"""``/v1/config`` handlers, after ``agent/config_endpoint.go``.

``PUT /v1/config`` (``?cas=``) answers ``true``/``false``; ``GET /v1/config/:kind/:name`` the
entry (404 ``Config entry not found for "kind" / "name"``); ``GET /v1/config/:kind`` the list;
``DELETE /v1/config/:kind/:name`` answers ``{}``, or ``true``/``false`` with ``?cas=``. Reads are
blocking queries on the ``config-entries`` table.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from airflow_provider_nomad.testing.consul import config_entries as ce
from airflow_provider_nomad.testing.consul import config_ops, errors
from airflow_provider_nomad.testing.consul.acl import Authorizer
from airflow_provider_nomad.testing.consul.responses import (
    _backend,
    _body,
    _json,
    _read,
    request_token,
)


def _cas(request: Request) -> int | None:
    text = request.query_params.get("cas", "")
    if not text:
        return None
    if not text.isascii() or not text.isdigit():
        raise errors.ConsulHTTPError(
            500, f"strconv.ParseUint: parsing {errors.go_quote(text)}: invalid syntax"
        )
    return int(text)


def _dc(request: Request):
    backend = _backend(request)
    return backend.datacenter(request.query_params.get("dc") or None)


async def config_apply(request: Request) -> Response:
    backend = _backend(request)
    dc = _dc(request)
    try:
        entry = ce.decode(await _body(request))
        applied = config_ops.apply(
            backend, dc, entry, backend.acl.resolve(request_token(request)), _cas(request)
        )
    except ce.ConfigEntryError as exc:
        raise exc.http() from None
    return _json(request, applied)


def _kind_and_name(request: Request) -> list[str]:
    rest = request.path_params.get("rest", "")
    return rest.split("/", 1) if rest else []


async def config_endpoint(request: Request) -> Response:
    if request.method == "DELETE":
        return await _config_delete(request)
    parts = _kind_and_name(request)
    if not parts or not parts[0]:
        raise errors.ConsulHTTPError(404, "Must provide either a kind or both kind and name")
    kind = parts[0]
    try:
        ce.check_kind(kind)
    except ce.ConfigEntryError as exc:
        # ConfigEntry.Get/List refuse an unknown kind from the RPC layer: 500.
        raise errors.ConsulHTTPError(500 if exc.status == 400 else exc.status, exc.text) from None
    if len(parts) == 2:
        return await _config_get(request, kind, parts[1])
    return await _config_list(request, kind)


async def _config_get(request: Request, kind: str, name: str) -> Response:
    def compute(backend: Any, dc: Any, authz: Authorizer):
        stored = dc.config_entries.get(kind, name)
        if stored is not None:
            config_ops.require_read(authz, kind, name)
        return config_ops.table_index(dc), stored.to_api() if stored else None, False

    entry, headers = await _read(request, compute)
    if entry is None:
        text = f"{ce.CONFIG_ENTRY_NOT_FOUND} for {errors.go_quote(kind)} / {errors.go_quote(name)}"
        return PlainTextResponse(text, status_code=404, headers=headers)
    return _json(request, entry, headers)


async def _config_list(request: Request, kind: str) -> Response:
    def compute(backend: Any, dc: Any, authz: Authorizer):
        out, filtered = [], False
        for stored in dc.config_entries.of_kind(kind):
            if config_ops.may_read(authz, kind, stored.entry["Name"]):
                out.append(stored.to_api())
            else:
                filtered = True
        return config_ops.table_index(dc), out, filtered

    entries, headers = await _read(request, compute, ce.filter_schema(kind))
    return _json(request, entries, headers)


async def _config_delete(request: Request) -> Response:
    backend = _backend(request)
    dc = _dc(request)
    parts = _kind_and_name(request)
    if len(parts) != 2:
        raise errors.ConsulHTTPError(404, "Must provide both a kind and name to delete")
    kind, name = parts
    try:
        ce.check_kind(kind)
        cas = _cas(request)
        deleted = config_ops.delete(
            backend, dc, kind, name, backend.acl.resolve(request_token(request)), cas
        )
    except ce.ConfigEntryError as exc:
        raise exc.http() from None
    return _json(request, deleted if cas is not None else {})


ENDPOINTS = (
    ("/v1/config", ("PUT",), config_apply),
    ("/v1/config/{rest:path}", ("GET", "DELETE"), config_endpoint),
)
