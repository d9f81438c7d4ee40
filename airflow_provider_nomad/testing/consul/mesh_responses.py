"""Handlers of the service-mesh catalog and health reads, after ``agent/health_endpoint.go``
and ``agent/catalog_endpoint.go``: the same answers, parameters and headers as
``/v1/health/service`` and ``/v1/catalog/service``, over a service's Connect endpoints or its
ingress gateways; and ``/v1/catalog/gateway-services/:gateway``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import errors, mesh_catalog
from airflow_provider_nomad.testing.consul.acl import READ, Authorizer
from airflow_provider_nomad.testing.consul.responses import (
    _json,
    _path_rest,
    _read,
    query_options,
    service_health_answer,
    service_nodes_answer,
)


async def health_connect(request: Request) -> Response:
    return await service_health_answer(request, mesh_catalog.connect_instances)


async def health_ingress(request: Request) -> Response:
    return await service_health_answer(request, mesh_catalog.ingress_instances)


async def catalog_connect(request: Request) -> Response:
    return await service_nodes_answer(request, mesh_catalog.connect_instances)


async def catalog_gateway_services(request: Request) -> Response:
    gateway = _path_rest(request, "gateway")
    query_options(request)
    if not gateway:
        raise errors.ConsulHTTPError(400, "Missing gateway name")

    def compute(backend: Any, dc: Any, authz: Authorizer):
        authz.require("service", gateway, READ)
        links, filtered = [], False
        for link in mesh_catalog.gateway_services(dc, gateway):
            if authz.allowed("service", link["Service"]["Name"], READ):
                links.append(link)
            else:
                filtered = True
        return mesh_catalog.mesh_index(dc), links, filtered

    links, headers = await _read(request, compute)
    return _json(request, links, headers)


_GET = ("GET",)
ENDPOINTS = (
    ("/v1/health/connect/{service:path}", _GET, health_connect),
    ("/v1/health/ingress/{service:path}", _GET, health_ingress),
    ("/v1/catalog/connect/{service:path}", _GET, catalog_connect),
    ("/v1/catalog/gateway-services/{gateway:path}", _GET, catalog_gateway_services),
)
