"""Route table of the emulated Consul agent and the wrapper every endpoint goes through.

Each route lists the methods Consul registers for it (``registerEndpoint`` in
``agent/http_register.go``); any other method gets Consul's 405 with an ``Allow`` header.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_nomad.testing.consul import (
    acl_responses,
    agent_admin_responses,
    ca_responses,
    chain_responses,
    config_responses,
    coordinates,
    errors,
    events,
    intention_responses,
    kv_responses,
    maintenance,
    mesh_responses,
    node_responses,
    operator_responses,
    responses,
    snapshot,
    txn,
)
from airflow_provider_nomad.testing.consul.control import control_routes
from airflow_provider_nomad.testing.consul.known_routes import consul_route
from airflow_provider_nomad.testing.consul.responses import Handler

# Starlette would answer unlisted methods itself; Consul's 405 comes from the wrapper instead.
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
_GET = ("GET",)
_PUT = ("PUT",)

ENDPOINTS: tuple[tuple[str, tuple[str, ...], Handler], ...] = (
    ("/v1/health/service/{service:path}", _GET, responses.health_service),
    ("/v1/health/checks/{service:path}", _GET, responses.health_checks),
    ("/v1/health/state/{state:path}", _GET, responses.health_state),
    ("/v1/health/node/{node:path}", _GET, responses.health_node),
    ("/v1/catalog/services", _GET, responses.catalog_services),
    ("/v1/catalog/service/{service:path}", _GET, responses.catalog_service),
    ("/v1/catalog/datacenters", _GET, responses.catalog_datacenters),
    ("/v1/catalog/register", _PUT, responses.catalog_register),
    ("/v1/catalog/deregister", _PUT, responses.catalog_deregister),
    ("/v1/agent/services", _GET, responses.agent_services),
    ("/v1/agent/checks", _GET, responses.agent_checks),
    ("/v1/agent/service/register", _PUT, responses.agent_service_register),
    ("/v1/agent/service/deregister/{service_id:path}", _PUT, responses.agent_service_deregister),
    ("/v1/agent/check/register", _PUT, responses.agent_check_register),
    ("/v1/agent/check/deregister/{check_id:path}", _PUT, responses.agent_check_deregister),
    ("/v1/agent/check/pass/{check_id:path}", _PUT, responses.agent_check_pass),
    ("/v1/agent/check/warn/{check_id:path}", _PUT, responses.agent_check_warn),
    ("/v1/agent/check/fail/{check_id:path}", _PUT, responses.agent_check_fail),
    ("/v1/agent/check/update/{check_id:path}", _PUT, responses.agent_check_update),
    ("/v1/status/leader", _GET, responses.status_leader),
    ("/v1/status/peers", _GET, responses.status_peers),
    ("/v1/agent/self", _GET, node_responses.agent_self),
    ("/v1/agent/members", _GET, node_responses.agent_members),
    ("/v1/catalog/nodes", _GET, node_responses.catalog_nodes),
    ("/v1/catalog/node/{node:path}", _GET, node_responses.catalog_node),
    ("/v1/kv/{key:path}", ("GET", "PUT", "DELETE"), kv_responses.kv_endpoint),
    ("/v1/session/create", _PUT, kv_responses.session_create),
    ("/v1/session/destroy/{session_id:path}", _PUT, kv_responses.session_destroy),
    ("/v1/session/renew/{session_id:path}", _PUT, kv_responses.session_renew),
    ("/v1/session/info/{arg:path}", _GET, kv_responses.session_info),
    ("/v1/session/node/{arg:path}", _GET, kv_responses.session_node),
    ("/v1/session/list", _GET, kv_responses.session_list),
    *config_responses.ENDPOINTS,
    *mesh_responses.ENDPOINTS,
    *intention_responses.ENDPOINTS,
    *ca_responses.ENDPOINTS,
    *chain_responses.ENDPOINTS,
    *acl_responses.ENDPOINTS,
    *maintenance.ENDPOINTS,
    *txn.ENDPOINTS,
    *agent_admin_responses.ENDPOINTS,
    *coordinates.ENDPOINTS,
    *events.ENDPOINTS,
    *operator_responses.ENDPOINTS,
    *snapshot.ENDPOINTS,
)


def consul_endpoint(handler: Handler, methods: tuple[str, ...]) -> Handler:
    """Method check, OPTIONS, loop binding and error rendering around one handler."""
    allow = ",".join(("OPTIONS", *methods))

    async def endpoint(request: Request) -> Response:
        request.app.state.backend.feed.bind_loop(asyncio.get_running_loop())
        if request.method == "OPTIONS":
            return Response(b"", status_code=200, headers={"Allow": allow})
        try:
            if request.method not in methods:
                raise errors.ConsulHTTPError(
                    405, errors.method_not_allowed(request.method), {"Allow": allow}
                )
            return await handler(request)
        except errors.ConsulHTTPError as exc:
            return responses.consul_error_response(exc)

    return endpoint


def build_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route(path, consul_endpoint(handler, methods), methods=_ANY_METHOD)
        for path, methods, handler in ENDPOINTS
    ]
    routes.extend(control_routes())
    routes.append(Route("/{path:path}", not_served, methods=_ANY_METHOD))
    return routes


async def not_served(request: Request) -> Response:
    """A route Consul has but the emulator does not serve: 501 naming it (405 for a method
    Consul refuses there); a path Consul does not route either: Consul's bare 404."""
    path = request.url.path
    known = consul_route(path)
    if known is None:
        return await responses.not_found(request)
    route, methods = known
    if methods and request.method not in methods:
        allow = ",".join(("OPTIONS", *methods))
        return responses.consul_error_response(
            errors.ConsulHTTPError(405, errors.method_not_allowed(request.method), {"Allow": allow})
        )
    text = f"the Consul emulator does not implement {request.method} {route}"
    return Response(text.encode(), status_code=501, media_type="text/plain")
