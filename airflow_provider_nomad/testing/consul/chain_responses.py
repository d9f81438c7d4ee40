"""``/v1/discovery-chain/:service``, after ``agent/discovery_chain_endpoint.go``.

``GET`` compiles the chain (``?compile-dc=`` names the datacenter to compile it in); ``POST``
takes overrides in the body (``OverrideProtocol``, ``OverrideConnectTimeout``,
``OverrideMeshGateway``, snake_case too). The answer is ``{"Chain": ...}``, a blocking query on
the config entries. The compiler is :mod:`.discovery_chain`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import config_ops, errors
from airflow_provider_nomad.testing.consul.acl import READ, Authorizer
from airflow_provider_nomad.testing.consul.discovery_chain import (
    ChainError,
    Overrides,
    compile_chain,
)
from airflow_provider_nomad.testing.consul.durations import parse_duration
from airflow_provider_nomad.testing.consul.proxy_config import MESH_GATEWAY_MODES
from airflow_provider_nomad.testing.consul.responses import _body, _json, _read, query_options


def _overrides(body: Any) -> Overrides:
    if not isinstance(body, dict):
        raise errors.ConsulHTTPError(400, "Request decoding failed: body must be a JSON object")
    fields = {str(key).lower().replace("_", ""): value for key, value in body.items()}
    protocol = fields.get("overrideprotocol")
    timeout = fields.get("overrideconnecttimeout")
    seconds = 0.0
    if isinstance(timeout, str) and timeout:
        try:
            seconds = parse_duration(timeout)
        except ValueError as exc:
            raise errors.ConsulHTTPError(400, f"Request decoding failed: {exc}") from exc
    elif isinstance(timeout, (int, float)):
        seconds = timeout / 1e9
    gateway = fields.get("overridemeshgateway") or {}
    mode = ""
    if isinstance(gateway, dict):
        mode = str({str(k).lower(): v for k, v in gateway.items()}.get("mode") or "")
    if mode and mode not in MESH_GATEWAY_MODES:
        raise errors.ConsulHTTPError(400, "Invalid OverrideMeshGateway.Mode parameter")
    return Overrides(
        protocol=str(protocol).lower() if protocol not in (None, "") else "",
        connect_timeout=seconds,
        mesh_gateway_mode=mode,
    )


async def discovery_chain(request: Request) -> Response:
    query_options(request)
    service = request.path_params.get("service", "")
    if not service:
        raise errors.ConsulHTTPError(400, "Missing chain name")
    overrides = _overrides(await _body(request)) if request.method == "POST" else Overrides()
    compile_dc = request.query_params.get("compile-dc", "")

    def compute(backend: Any, dc: Any, authz: Authorizer):
        authz.require("service", service, READ)
        try:
            chain = compile_chain(
                service,
                datacenter=compile_dc or dc.name,
                trust_domain=dc.connect_ca.trust_domain,
                store=dc.config_entries,
                overrides=overrides,
            )
        except ChainError as exc:
            raise errors.ConsulHTTPError(500, str(exc)) from None
        return max(1, config_ops.table_index(dc)), {"Chain": chain}, False

    chain, headers = await _read(request, compute)
    return _json(request, chain, headers)


ENDPOINTS = (("/v1/discovery-chain/{service:path}", ("GET", "POST"), discovery_chain),)
