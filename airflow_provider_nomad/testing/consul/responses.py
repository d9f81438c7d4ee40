"""HTTP handlers of the emulated Consul agent: parse a request, call the backend, shape the reply.

Parameter parsing, status codes, headers and texts follow Consul's ``agent/http.go`` and the
endpoint handlers (``health_endpoint.go``, ``agent_endpoint.go``, ``catalog_endpoint.go``,
``status_endpoint.go``). The handlers stay thin: state and rules live in ``models``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl import Authorizer
from airflow_provider_nomad.testing.consul.definitions import (
    CRITICAL,
    PASSING,
    VALID_STATUSES,
    WARNING,
    parse_catalog_registration,
    parse_check_registration,
    parse_service,
)
from airflow_provider_nomad.testing.consul.durations import parse_duration
from airflow_provider_nomad.testing.consul.filters import FilterError, compile_filter
from airflow_provider_nomad.testing.consul.mesh_catalog import (
    merge_into_health_entries,
    merge_into_service_nodes,
    mesh_index,
)
from airflow_provider_nomad.testing.consul.models import ConsulBackend
from airflow_provider_nomad.testing.consul.proxy_config import CONNECT_PROXY, GATEWAY_KINDS
from airflow_provider_nomad.testing.consul.records import (
    CATALOG_SERVICE_SCHEMA,
    CHECK_SCHEMA,
    HEALTH_SERVICE_SCHEMA,
    SERVICE_SCHEMA,
)

Handler = Callable[[Request], Awaitable[Response]]
#: The instances a mesh endpoint answers with for a service name (see :mod:`.mesh_catalog`).
Selector = Callable[[Any, str], list[Any]]
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _backend(request: Request) -> ConsulBackend:
    return request.app.state.backend


def _go_json(obj: Any, pretty: bool) -> bytes:
    """Encode like Go's ``json.Marshal`` (compact, ``<>&`` escaped) or ``MarshalIndent``."""
    if pretty:
        text = json.dumps(obj, indent=4, ensure_ascii=False) + "\n"
    else:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode()


def _json(request: Request, obj: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _go_json(obj, "pretty" in request.query_params),
        headers=headers,
        media_type="application/json",
    )


def _parse_bool(value: str) -> bool:
    """Go's ``strconv.ParseBool``."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(value)


def request_token(request: Request) -> str:
    """``?token=``, else ``X-Consul-Token``, else ``Authorization: Bearer`` (``parseToken``)."""
    token = request.query_params.get("token")
    if token:
        return token
    token = request.headers.get("x-consul-token")
    if token:
        return token
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return ""


@dataclass(frozen=True)
class QueryOptions:
    """What ``parseWait``, ``parseConsistency`` and ``parseDC`` read off a request."""

    datacenter: str
    min_index: int
    wait: float | None
    consistency: str
    token: str
    filter: str | None


def query_options(request: Request) -> QueryOptions:
    params = request.query_params
    wait: float | None = None
    if params.get("wait"):
        try:
            wait = parse_duration(params["wait"])
        except ValueError as exc:
            raise errors.ConsulHTTPError(400, errors.INVALID_WAIT) from exc
    min_index = 0
    if params.get("index"):
        try:
            min_index = int(params["index"])
            if min_index < 0:
                raise ValueError(params["index"])
        except ValueError as exc:
            raise errors.ConsulHTTPError(400, errors.INVALID_INDEX) from exc
    stale, consistent = "stale" in params, "consistent" in params
    if stale and consistent:
        raise errors.ConsulHTTPError(400, errors.CONFLICTING_CONSISTENCY)
    consistency = "stale" if stale else "consistent" if consistent else "leader"
    return QueryOptions(
        datacenter=params.get("dc", ""),
        min_index=min_index,
        wait=wait,
        consistency=consistency,
        token=request_token(request),
        filter=params.get("filter") or None,
    )


def _read_headers(index: int, options: QueryOptions, authz: Authorizer, filtered: bool) -> dict:
    """``setMeta``: index (never 0), leader contact, consistency, ACL filtering."""
    headers = {
        "X-Consul-Index": str(max(1, index)),
        "X-Consul-KnownLeader": "true",
        "X-Consul-LastContact": "0",
        "X-Consul-Effective-Consistency": options.consistency,
    }
    # Consul hides it from the anonymous token so it leaks nothing (maskResultsFilteredByACLs).
    if filtered and not authz.is_anonymous:
        headers["X-Consul-Results-Filtered-By-ACLs"] = "true"
    return headers


def _compile(expression: str | None, schema: Any):
    try:
        return compile_filter(expression, schema)
    except FilterError as exc:
        raise errors.ConsulHTTPError(500, errors.FILTER_ERROR_PREFIX + str(exc)) from exc


async def _read(
    request: Request,
    compute: Callable[[ConsulBackend, Any, Authorizer], tuple[int, Any, bool]],
    schema: Any = None,
) -> tuple[Any, dict[str, str]]:
    """Common path of the blocking list endpoints: dc, filter, token, then the query."""
    backend = _backend(request)
    options = query_options(request)
    dc = backend.datacenter(options.datacenter or None)
    item_filter = _compile(options.filter, schema) if schema is not None else None
    authz = backend.acl.resolve(options.token)

    def run() -> tuple[int, tuple[Any, bool]]:
        index, result, filtered = compute(backend, dc, authz)
        if item_filter is not None:
            result = item_filter.apply(result)
        return index, (result, filtered)

    index, (result, filtered) = await backend.feed.blocking_query(
        options.min_index, options.wait, run
    )
    return result, _read_headers(index, options, authz, filtered)


def _path_rest(request: Request, name: str) -> str:
    return request.path_params.get(name, "")


# -- /v1/health ---------------------------------------------------------------------------------
async def health_service(request: Request) -> Response:
    return await service_health_answer(request)


async def service_health_answer(request: Request, select: Selector | None = None) -> Response:
    """``/v1/health/service/:service``, or with ``select`` the same answer over other
    instances than the service's own (``/v1/health/connect``, ``/v1/health/ingress``)."""
    tags = request.query_params.getlist("tag") if "tag" in request.query_params else None
    service = _path_rest(request, "service")
    query_options(request)  # 400s for bad wait/index come before the missing name
    if not service:
        raise errors.ConsulHTTPError(400, errors.MISSING_SERVICE_NAME)

    peer = request.query_params.get("peer", "")
    merge = "merge-central-config" in request.query_params

    def compute(backend: ConsulBackend, dc: Any, authz: Authorizer):
        index = backend.service_index(dc, service) if select is None else mesh_index(dc)
        if peer:
            # Services imported from a cluster peer: the emulator has no peerings, so none.
            return index, [], False
        instances = select(dc, service) if select is not None else None
        entries, filtered = backend.health_service(dc, service, tags, authz, instances)
        if merge:
            merge_into_health_entries(dc, entries)
        return index, entries, filtered

    entries, headers = await _read(request, compute, HEALTH_SERVICE_SCHEMA)
    # Like Consul, ?passing is read after the query has run (the FIXME in healthServiceNodes).
    if "passing" in request.query_params:
        value = request.query_params.get("passing", "")
        try:
            passing_only = True if value == "" else _parse_bool(value)
        except ValueError:
            raise errors.ConsulHTTPError(400, errors.INVALID_PASSING) from None
        if passing_only:
            entries = [
                entry
                for entry in entries
                if all(check["Status"] == PASSING for check in entry["Checks"])
            ]
    return _json(request, entries, headers)


async def health_checks(request: Request) -> Response:
    service = _path_rest(request, "service")
    query_options(request)
    if not service:
        raise errors.ConsulHTTPError(400, errors.MISSING_SERVICE_NAME)
    if "tag" in request.query_params:
        raise errors.ConsulHTTPError(500, errors.TAG_FILTERING_NOT_SUPPORTED)

    def compute(backend: ConsulBackend, dc: Any, authz: Authorizer):
        checks, filtered = backend.service_checks(dc, service, authz)
        return backend.service_index(dc, service), checks, filtered

    checks, headers = await _read(request, compute, CHECK_SCHEMA)
    return _json(request, checks, headers)


async def health_state(request: Request) -> Response:
    state = _path_rest(request, "state")
    query_options(request)
    if not state:
        raise errors.ConsulHTTPError(400, errors.MISSING_CHECK_STATE)
    if state not in ("any", PASSING, WARNING, CRITICAL):
        raise errors.ConsulHTTPError(400, errors.INVALID_CHECK_STATE)

    def compute(backend: ConsulBackend, dc: Any, authz: Authorizer):
        checks, filtered = backend.checks_in_state(dc, state, authz)
        return dc.table_index["checks"], checks, filtered

    checks, headers = await _read(request, compute, CHECK_SCHEMA)
    return _json(request, checks, headers)


async def health_node(request: Request) -> Response:
    node = _path_rest(request, "node")
    query_options(request)
    if not node:
        raise errors.ConsulHTTPError(400, "Missing node name")

    def compute(backend: ConsulBackend, dc: Any, authz: Authorizer):
        checks, filtered = backend.checks_in_state(dc, "any", authz)
        return dc.table_index["checks"], [c for c in checks if c["Node"] == node], filtered

    checks, headers = await _read(request, compute, CHECK_SCHEMA)
    return _json(request, checks, headers)


# -- /v1/catalog --------------------------------------------------------------------------------
async def catalog_services(request: Request) -> Response:
    """Service name -> tags; ``?filter=`` selects instances (``ServiceNode`` fields) first."""
    expression = request.query_params.get("filter") or None
    instance_filter = _compile(expression, CATALOG_SERVICE_SCHEMA) if expression else None

    def compute(backend: ConsulBackend, dc: Any, authz: Authorizer):
        services, filtered = backend.catalog_services(dc, authz, instance_filter)
        return dc.table_index["services"], services, filtered

    options = query_options(request)
    backend = _backend(request)
    dc = backend.datacenter(options.datacenter or None)
    authz = backend.acl.resolve(options.token)

    def run():
        index, result, filtered = compute(backend, dc, authz)
        return index, (result, filtered)

    index, (services, filtered) = await backend.feed.blocking_query(
        options.min_index, options.wait, run
    )
    return _json(request, services, _read_headers(index, options, authz, filtered))


async def catalog_service(request: Request) -> Response:
    return await service_nodes_answer(request)


async def service_nodes_answer(request: Request, select: Selector | None = None) -> Response:
    """``/v1/catalog/service/:service``, or with ``select`` over other instances
    (``/v1/catalog/connect``)."""
    tags = request.query_params.getlist("tag") if "tag" in request.query_params else None
    service = _path_rest(request, "service")
    query_options(request)
    if not service:
        raise errors.ConsulHTTPError(400, errors.MISSING_SERVICE_NAME)
    peer = request.query_params.get("peer", "")
    merge = "merge-central-config" in request.query_params

    def compute(backend: ConsulBackend, dc: Any, authz: Authorizer):
        index = backend.service_index(dc, service) if select is None else mesh_index(dc)
        if peer:
            # Services imported from a cluster peer: the emulator has no peerings, so none.
            return index, [], False
        instances = select(dc, service) if select is not None else None
        nodes, filtered = backend.catalog_service(dc, service, tags, authz, instances)
        if merge:
            merge_into_service_nodes(dc, nodes)
        return index, nodes, filtered

    nodes, headers = await _read(request, compute, CATALOG_SERVICE_SCHEMA)
    return _json(request, nodes, headers)


async def catalog_datacenters(request: Request) -> Response:
    return _json(request, _backend(request).datacenters)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise errors.ConsulHTTPError(400, "Request decode failed: EOF")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise errors.ConsulHTTPError(400, f"Request decode failed: {exc.msg}") from exc


async def catalog_register(request: Request) -> Response:
    backend = _backend(request)
    registration = parse_catalog_registration(await _body(request))
    if not registration.datacenter and request.query_params.get("dc"):
        registration.datacenter = request.query_params["dc"]
    backend.catalog_register(registration, backend.acl.resolve(request_token(request)))
    return _json(request, True)


async def catalog_deregister(request: Request) -> Response:
    backend = _backend(request)
    body = {str(k).lower(): v for k, v in dict(await _body(request)).items()}
    if not body.get("node"):
        raise errors.ConsulHTTPError(500, "Must provide node")
    backend.catalog_deregister(
        str(body.get("datacenter") or request.query_params.get("dc") or "") or None,
        str(body["node"]),
        str(body.get("serviceid") or "") or None,
        str(body.get("checkid") or "") or None,
        backend.acl.resolve(request_token(request)),
    )
    return _json(request, True)


# -- /v1/agent ----------------------------------------------------------------------------------
def _empty_ok() -> Response:
    """Consul writes nothing for a handler that returns no object: 200, empty body."""
    return Response(b"", status_code=200)


async def agent_service_register(request: Request) -> Response:
    backend = _backend(request)
    spec = parse_service(await _body(request))
    authz = backend.acl.resolve(request_token(request))
    replace = request.query_params.get("replace-existing-checks")
    backend.register_service(
        spec,
        authz,
        replace_existing_checks=replace is not None and replace in ("", "true"),
    )
    return _empty_ok()


async def agent_service_deregister(request: Request) -> Response:
    backend = _backend(request)
    authz = backend.acl.resolve(request_token(request))
    backend.deregister_service(_path_rest(request, "service_id"), authz)
    return _empty_ok()


async def agent_check_register(request: Request) -> Response:
    backend = _backend(request)
    spec = parse_check_registration(await _body(request))
    backend.register_check(spec, backend.acl.resolve(request_token(request)))
    return _empty_ok()


async def agent_check_deregister(request: Request) -> Response:
    backend = _backend(request)
    authz = backend.acl.resolve(request_token(request))
    backend.deregister_check(_path_rest(request, "check_id"), authz)
    return _empty_ok()


def _ttl_update(status: str) -> Handler:
    async def update(request: Request) -> Response:
        backend = _backend(request)
        authz = backend.acl.resolve(request_token(request))
        note = request.query_params.get("note", "")
        backend.update_ttl_check(_path_rest(request, "check_id"), status, note, authz)
        return _empty_ok()

    return update


agent_check_pass = _ttl_update(PASSING)
agent_check_warn = _ttl_update(WARNING)
agent_check_fail = _ttl_update(CRITICAL)


async def agent_check_update(request: Request) -> Response:
    backend = _backend(request)
    body = await _body(request)
    fields = {str(k).lower(): v for k, v in dict(body).items()} if isinstance(body, dict) else {}
    status = str(fields.get("status") or "")
    if status not in VALID_STATUSES:
        raise errors.ConsulHTTPError(400, f"Invalid check status: '{status}'")
    authz = backend.acl.resolve(request_token(request))
    output = str(fields.get("output") or "")
    backend.update_ttl_check(_path_rest(request, "check_id"), status, output, authz)
    return _empty_ok()


def _filtered_map(request: Request, items: dict[str, Any], schema: Any) -> dict[str, Any]:
    """``?filter=`` on a map answer: each value is evaluated, the keys of those kept stay."""
    if not request.query_params.get("filter"):
        return items
    item_filter = _compile(request.query_params["filter"], schema)
    kept = item_filter.apply(list(items.values()))
    return {key: value for key, value in items.items() if any(value is k for k in kept)}


async def agent_checks(request: Request) -> Response:
    backend = _backend(request)
    authz = backend.acl.resolve(request_token(request))
    _compile(request.query_params.get("filter") or None, CHECK_SCHEMA)
    with backend.lock:
        node = backend.local_node
        checks = {
            check.check_id: check.to_api()
            for check in node.checks.values()
            if check.agent_local and backend.may_read_check(authz, node, check)
        }
    return _json(request, _filtered_map(request, checks, CHECK_SCHEMA))


async def agent_services(request: Request) -> Response:
    backend = _backend(request)
    authz = backend.acl.resolve(request_token(request))
    with backend.lock:
        services = {
            service.id: service.to_api() | {"Datacenter": backend.local_datacenter}
            for service in backend.local_node.services.values()
            if service.agent_local and authz.allowed("service", service.name, "read")
        }
    for service in services.values():
        # AgentService: Proxy only for proxies and gateways, Connect only when set.
        if service.get("Kind", "") not in (CONNECT_PROXY, *GATEWAY_KINDS):
            service.pop("Proxy", None)
        if not service.get("Connect"):
            service.pop("Connect", None)
        for key in ("CreateIndex", "ModifyIndex"):
            service.pop(key, None)
    return _json(request, _filtered_map(request, services, SERVICE_SCHEMA))


# -- /v1/status ---------------------------------------------------------------------------------
async def status_leader(request: Request) -> Response:
    backend = _backend(request)
    return _json(request, backend.leader_address(request.query_params.get("dc") or None))


async def status_peers(request: Request) -> Response:
    backend = _backend(request)
    return _json(request, [backend.leader_address(request.query_params.get("dc") or None)])


async def not_found(request: Request) -> Response:
    """Consul's index handler: any path it does not route is a bare 404."""
    return Response(b"", status_code=404)


def consul_error_response(exc: errors.ConsulHTTPError) -> Response:
    return PlainTextResponse(exc.text, status_code=exc.status, headers=exc.headers)
