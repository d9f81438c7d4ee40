"""``/v1/connect/ca/...`` handlers, after ``agent/connect_ca_endpoint.go``.

Roots (``?pem=true`` answers the PEM chain as ``application/pem-certificate-chain``) need no
token; reading and writing the configuration need ``operator:write``. Writing answers an empty
200, as Consul does.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import connect_ca, errors
from airflow_provider_nomad.testing.consul.acl import WRITE, Authorizer
from airflow_provider_nomad.testing.consul.connect_leaf import issue_leaf
from airflow_provider_nomad.testing.consul.responses import (
    _backend,
    _body,
    _json,
    _parse_bool,
    _read,
    request_token,
)

TABLE = "connect-ca"


def _ca_index(dc: Any) -> int:
    return max(dc.table_index.get(TABLE, 0), dc.connect_ca.modify_index)


async def ca_roots(request: Request) -> Response:
    pem = request.query_params.get("pem", "")
    try:
        as_pem = _parse_bool(pem) if pem else False
    except ValueError:
        raise errors.ConsulHTTPError(
            400, f"The 'pem' query parameter must be a boolean: {pem}"
        ) from None

    def compute(backend: Any, dc: Any, authz: Authorizer):
        return _ca_index(dc), dc.connect_ca.roots_api(), False

    roots, headers = await _read(request, compute)
    if as_pem:
        chain = "".join(root["RootCert"] for root in roots["Roots"])
        return Response(
            chain.encode(), headers=headers, media_type="application/pem-certificate-chain"
        )
    return _json(request, roots, headers)


async def ca_configuration(request: Request) -> Response:
    if request.method == "PUT":
        return await _ca_configuration_set(request)

    def compute(backend: Any, dc: Any, authz: Authorizer):
        authz.require("operator", "", WRITE)
        return _ca_index(dc), dc.connect_ca.configuration_api(), False

    config, headers = await _read(request, compute)
    return _json(request, config, headers)


async def _ca_configuration_set(request: Request) -> Response:
    backend = _backend(request)
    body = await _body(request)
    if not isinstance(body, dict):
        raise errors.ConsulHTTPError(400, "Request decode failed: body must be a JSON object")
    fields = {str(key).lower(): value for key, value in body.items()}
    provider = str(fields.get("provider") or "")
    config = fields.get("config") or {}
    if not isinstance(config, dict):
        raise errors.ConsulHTTPError(400, "Request decode failed: Config must be an object")
    if fields.get("state"):
        raise errors.ConsulHTTPError(
            400, "Provider State is read-only. It must be omitted or identical to the current value"
        )
    authz = backend.acl.resolve(request_token(request))
    with backend.lock:
        authz.require("operator", "", WRITE)
        connect_ca.validate(provider, config)
        dc = backend.datacenter(request.query_params.get("dc") or None)
        index = backend.next_index()
        dc.connect_ca.update(provider, config, bool(fields.get("forcewithoutcrosssigning")), index)
        dc.table_index[TABLE] = index
    backend.feed.notify()
    return Response(b"", status_code=200)


async def agent_leaf(request: Request) -> Response:
    """``GET /v1/agent/connect/ca/leaf/:service``: needs ``service:write`` on the service."""
    service = request.path_params.get("service", "")
    if not service:
        raise errors.ConsulHTTPError(400, "Missing service name")

    def compute(backend: Any, dc: Any, authz: Authorizer):
        authz.require("service", service, WRITE)
        leaf = issue_leaf(dc.connect_ca, dc.name, service, max(1, _ca_index(dc)))
        return _ca_index(dc), leaf, False

    leaf, headers = await _read(request, compute)
    return _json(request, leaf, headers)


ENDPOINTS = (
    ("/v1/connect/ca/roots", ("GET",), ca_roots),
    ("/v1/agent/connect/ca/roots", ("GET",), ca_roots),
    ("/v1/connect/ca/configuration", ("GET", "PUT"), ca_configuration),
    ("/v1/agent/connect/ca/leaf/{service:path}", ("GET",), agent_leaf),
)
