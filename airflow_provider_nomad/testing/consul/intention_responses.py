"""``/v1/connect/intentions`` handlers, after ``agent/intentions_endpoint.go``.

Exact (by source and destination name) upsert/read/delete, list (``?filter=``), match,
check, and the deprecated ID-based create/read/update/delete. A missing required parameter is
Consul's 500 ``required query parameter '...' not set``.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from airflow_provider_nomad.testing.consul import config_entries as ce
from airflow_provider_nomad.testing.consul import config_ops, errors, intentions
from airflow_provider_nomad.testing.consul.acl import WRITE, Authorizer
from airflow_provider_nomad.testing.consul.responses import (
    _backend,
    _body,
    _json,
    _read,
    query_options,
    request_token,
)


def _one(request: Request, name: str) -> str:
    values = request.query_params.getlist(name)
    if len(values) != 1 or not values[0]:
        raise errors.ConsulHTTPError(500, f"required query parameter '{name}' not set")
    return values[0]


def _dc(request: Request) -> Any:
    return _backend(request).datacenter(request.query_params.get("dc") or None)


def _authz(request: Request) -> Authorizer:
    return _backend(request).acl.resolve(request_token(request))


def _not_found(headers: dict[str, str] | None = None) -> Response:
    return PlainTextResponse(intentions.INTENTION_NOT_FOUND, status_code=404, headers=headers)


# -- exact ---------------------------------------------------------------------------------------
async def intention_exact(request: Request) -> Response:
    if request.method == "PUT":
        return await _exact_put(request)
    if request.method == "DELETE":
        return await _exact_delete(request)
    query_options(request)
    source = intentions.parse_name(_one(request, "source"), "source")
    destination = intentions.parse_name(_one(request, "destination"), "destination")

    def compute(backend: Any, dc: Any, authz: Authorizer):
        config_ops.require_read(authz, ce.SERVICE_INTENTIONS, destination)
        return config_ops.table_index(dc), intentions.find(dc, source, destination), False

    found, headers = await _read(request, compute)
    if found is None:
        return _not_found(headers)
    return _json(request, found, headers)


async def _exact_put(request: Request) -> Response:
    source = intentions.parse_name(_one(request, "source"), "source")
    destination = intentions.parse_name(_one(request, "destination"), "destination")
    body = intentions.source_from_body(source, await _body(request))
    intentions.upsert(_backend(request), _dc(request), destination, body, _authz(request))
    return _json(request, True)


async def _exact_delete(request: Request) -> Response:
    source = intentions.parse_name(_one(request, "source"), "source")
    destination = intentions.parse_name(_one(request, "destination"), "destination")
    intentions.delete(_backend(request), _dc(request), destination, source, _authz(request))
    return _json(request, True)


# -- list, match, check ----------------------------------------------------------------------------
async def intention_list_or_create(request: Request) -> Response:
    if request.method == "POST":
        return await _legacy_create(request)

    def compute(backend: Any, dc: Any, authz: Authorizer):
        found, filtered = intentions.all_intentions(dc, authz)
        return config_ops.table_index(dc), found, filtered

    found, headers = await _read(request, compute, intentions.INTENTION_SCHEMA)
    return _json(request, found, headers)


async def intention_match(request: Request) -> Response:
    query_options(request)
    by = request.query_params.getlist("by")
    if len(by) != 1:
        raise errors.ConsulHTTPError(500, "required query parameter 'by' not set")
    if by[0] not in ("source", "destination"):
        raise errors.ConsulHTTPError(500, "'by' parameter must be one of 'source' or 'destination'")
    names = request.query_params.getlist("name")
    if not names:
        raise errors.ConsulHTTPError(500, "required query parameter 'name' not set")
    parsed = [(name, intentions.parse_name(name, "name")) for name in names]

    def compute(backend: Any, dc: Any, authz: Authorizer):
        answer = {name: intentions.match(dc, by[0], value, authz) for name, value in parsed}
        return config_ops.table_index(dc), answer, False

    answer, headers = await _read(request, compute)
    return _json(request, answer, headers)


async def intention_check(request: Request) -> Response:
    query_options(request)
    source_type = request.query_params.get("source-type") or intentions.SOURCE_TYPE_CONSUL
    source = _one(request, "source")
    if source_type == intentions.SOURCE_TYPE_CONSUL:
        source = intentions.parse_name(source, "source")
    destination = intentions.parse_name(_one(request, "destination"), "destination")
    backend = _backend(request)
    authz = _authz(request)
    with backend.lock:
        config_ops.require_read(authz, ce.SERVICE_INTENTIONS, destination)
        allowed = intentions.check(
            _dc(request), source, destination, default_allow=not backend.acl.enabled
        )
    return _json(request, {"Allowed": allowed})


# -- agent authorize -------------------------------------------------------------------------------
_SPIFFE_SERVICE = re.compile(
    r"^spiffe://[^/]+(?:/ap/[^/]+)?/ns/(?P<ns>[^/]+)/dc/(?P<dc>[^/]+)/svc/(?P<svc>[^/]+)$"
)


async def agent_connect_authorize(request: Request) -> Response:
    """``POST /v1/agent/connect/authorize``: may the client certificate's service connect to
    ``Target``? Decided by intentions, else the default policy (``AgentConnectAuthorize``)."""
    fields = intentions._fields(await _body(request))
    target = str(fields.get("target") or "")
    uri = str(fields.get("clientcerturi") or "")
    if not target:
        raise errors.ConsulHTTPError(400, "Target service must be specified")
    if not uri:
        raise errors.ConsulHTTPError(400, "ClientCertURI must be specified")
    if not uri.startswith("spiffe://"):
        raise errors.ConsulHTTPError(400, "ClientCertURI not a valid Connect identifier")
    parsed = _SPIFFE_SERVICE.match(uri)
    if parsed is None:
        raise errors.ConsulHTTPError(400, "ClientCertURI not a valid Service identifier")
    backend = _backend(request)
    authz = _authz(request)
    with backend.lock:
        authz.require("service", target, WRITE)
        match = intentions.first_match(_dc(request), parsed["svc"], target)
        if match is None:
            authorized = not backend.acl.enabled
            reason = "Default behavior configured by ACLs"
        elif match.get("Permissions"):
            authorized = False
            reason = f"Matched L7 intention: {intentions.intention_string(match)}"
        else:
            authorized = match.get("Action") == "allow"
            reason = f"Matched L4 intention: {intentions.intention_string(match)}"
    return _json(request, {"Authorized": authorized, "Reason": reason})


# -- deprecated ID endpoints -----------------------------------------------------------------------
def _names(body: Any) -> tuple[str, str]:
    fields = intentions._fields(body)
    source = str(fields.get("sourcename") or "")
    destination = str(fields.get("destinationname") or "")
    if not source:
        raise errors.ConsulHTTPError(500, "Invalid Intention: SourceName must be set")
    if not destination:
        raise errors.ConsulHTTPError(500, "Invalid Intention: DestinationName must be set")
    return source, destination


async def _legacy_create(request: Request) -> Response:
    body = await _body(request)
    source, destination = _names(body)
    created = intentions.legacy_source(source, body)
    intentions.upsert(
        _backend(request), _dc(request), destination, created, _authz(request), legacy=True
    )
    return _json(request, {"ID": created["LegacyID"]})


async def intention_by_id(request: Request) -> Response:
    legacy_id = request.path_params.get("intention_id", "")
    backend = _backend(request)
    if request.method == "GET":
        query_options(request)

        def compute(backend: Any, dc: Any, authz: Authorizer):
            found = intentions.find_legacy(dc, legacy_id)
            if found is not None:
                config_ops.require_read(authz, ce.SERVICE_INTENTIONS, found[0])
            return config_ops.table_index(dc), found[1] if found else None, False

        found, headers = await _read(request, compute)
        return _json(request, found, headers) if found else _not_found(headers)
    dc, authz = _dc(request), _authz(request)
    with backend.lock:
        found = intentions.find_legacy(dc, legacy_id)
        if found is None:
            verb = "delete" if request.method == "DELETE" else "modify"
            raise errors.ConsulHTTPError(
                500, f"Cannot {verb} non-existent intention: {errors.go_quote(legacy_id)}"
            )
        destination, current = found
        if request.method == "DELETE":
            intentions.delete(backend, dc, destination, current["SourceName"], authz)
            return _json(request, True)
    body = await _body(request)
    source, new_destination = _names(body)
    updated = intentions.legacy_source(source, body, legacy_id)
    updated["LegacyCreateTime"] = current.get("CreatedAt", updated["LegacyCreateTime"])
    with backend.lock:
        intentions.delete(backend, dc, destination, current["SourceName"], authz)
        intentions.upsert(backend, dc, new_destination, updated, authz, legacy=True)
    return _json(request, {"ID": legacy_id})


ENDPOINTS = (
    ("/v1/connect/intentions", ("GET", "POST"), intention_list_or_create),
    ("/v1/connect/intentions/match", ("GET",), intention_match),
    ("/v1/connect/intentions/check", ("GET",), intention_check),
    ("/v1/connect/intentions/exact", ("GET", "PUT", "DELETE"), intention_exact),
    ("/v1/connect/intentions/{intention_id}", ("GET", "PUT", "DELETE"), intention_by_id),
    ("/v1/agent/connect/authorize", ("POST",), agent_connect_authorize),
)
