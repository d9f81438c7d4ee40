"""Node and service maintenance mode (``consul maint``), after ``agent/agent.go``
(``EnableNodeMaintenance``, ``EnableServiceMaintenance``) and ``agent/agent_endpoint.go``.

Maintenance is nothing but a critical check the agent adds: ``_node_maintenance`` on its node
(every service on it turns critical) or ``_service_maintenance:<id>`` on one instance. Health
reads and blocking queries therefore see it like any other check; turning maintenance off
removes the check. Enabling twice keeps the first check (and its reason).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl import WRITE, Authorizer
from airflow_provider_nomad.testing.consul.agent_log import AGENT_LOG
from airflow_provider_nomad.testing.consul.definitions import CRITICAL
from airflow_provider_nomad.testing.consul.models import ConsulBackend
from airflow_provider_nomad.testing.consul.records import HealthCheck
from airflow_provider_nomad.testing.consul.responses import (
    _backend,
    _empty_ok,
    _parse_bool,
    _path_rest,
    request_token,
)

NODE_MAINT_CHECK_ID = "_node_maintenance"  # structs.NodeMaint
SERVICE_MAINT_PREFIX = "_service_maintenance:"  # structs.ServiceMaintPrefix
MAINTENANCE_TYPE = "maintenance"
DEFAULT_NODE_REASON = (
    "Maintenance mode is enabled for this node, but no reason was provided. "
    "This is a default message."
)
DEFAULT_SERVICE_REASON = (
    "Maintenance mode is enabled for this service, but no reason was provided. "
    "This is a default message."
)


def service_maint_check_id(service_id: str) -> str:
    return SERVICE_MAINT_PREFIX + service_id


def _no_service(service_id: str) -> errors.ConsulHTTPError:
    return errors.ConsulHTTPError(
        404, f"No service registered with ID {errors.go_quote(service_id)}"
    )


def set_node_maintenance(backend: ConsulBackend, enable: bool, reason: str) -> None:
    """Add (or remove) the agent node's ``_node_maintenance`` check."""
    with backend.lock:
        dc = backend.datacenter(None)
        node = backend.local_node
        present = NODE_MAINT_CHECK_ID in node.checks
        if enable == present:
            return
        index = backend.next_index()
        if enable:
            node.checks[NODE_MAINT_CHECK_ID] = HealthCheck(
                node=node.name,
                check_id=NODE_MAINT_CHECK_ID,
                name="Node Maintenance Mode",
                status=CRITICAL,
                notes=reason or DEFAULT_NODE_REASON,
                type=MAINTENANCE_TYPE,
                create_index=index,
                modify_index=index,
            )
        else:
            del node.checks[NODE_MAINT_CHECK_ID]
        # A node check counts for every service instance on the node.
        affected = {service.name for service in node.services.values()}
        _touch(dc, index, affected)
    AGENT_LOG.info("agent: Node %s maintenance mode", "entered" if enable else "left")
    backend.feed.notify()


def set_service_maintenance(
    backend: ConsulBackend, service_id: str, enable: bool, reason: str
) -> None:
    """Add (or remove) ``_service_maintenance:<id>`` on one of the agent's instances."""
    with backend.lock:
        dc = backend.datacenter(None)
        node = backend.local_node
        service = node.services.get(service_id)
        if service is None or not service.agent_local:
            raise _no_service(service_id)
        check_id = service_maint_check_id(service_id)
        present = check_id in node.checks
        if enable == present:
            return
        index = backend.next_index()
        if enable:
            node.checks[check_id] = HealthCheck(
                node=node.name,
                check_id=check_id,
                name="Service Maintenance Mode",
                status=CRITICAL,
                notes=reason or DEFAULT_SERVICE_REASON,
                service_id=service.id,
                service_name=service.name,
                service_tags=list(service.tags),
                type=MAINTENANCE_TYPE,
                create_index=index,
                modify_index=index,
            )
        else:
            del node.checks[check_id]
        _touch(dc, index, {service.name})
    state = "entered" if enable else "left"
    AGENT_LOG.info("agent: Service %s maintenance mode: service=%s", state, service_id)
    backend.feed.notify()


def _touch(dc, index: int, services: set[str]) -> None:
    dc.table_index["checks"] = index
    for name in services:
        dc.service_index[name] = index


def _enable_flag(request: Request) -> bool:
    """``?enable=`` is required and read with Go's ``strconv.ParseBool``."""
    if "enable" not in request.query_params:
        raise errors.ConsulHTTPError(400, "Missing value for enable")
    raw = request.query_params.get("enable", "")
    try:
        return _parse_bool(raw)
    except ValueError:
        raise errors.ConsulHTTPError(
            400, f"Invalid value for enable: {errors.go_quote(raw)}"
        ) from None


def _vet_service_update(backend: ConsulBackend, authz: Authorizer, service_id: str) -> None:
    """``vetServiceUpdateWithAuthorizer``: an unknown ID is a 404, else ``service:write``."""
    with backend.lock:
        service = backend.local_node.services.get(service_id)
        if service is None or not service.agent_local:
            raise errors.ConsulHTTPError(404, errors.unknown_service_id(service_id))
        authz.require("service", service.name, WRITE)


async def agent_node_maintenance(request: Request) -> Response:
    """``PUT /v1/agent/maintenance?enable=&reason=`` (needs ``node:write`` on the agent)."""
    backend = _backend(request)
    enable = _enable_flag(request)
    authz = backend.acl.resolve(request_token(request))
    authz.require("node", backend.node_name, WRITE)
    set_node_maintenance(backend, enable, request.query_params.get("reason", ""))
    return _empty_ok()


async def agent_service_maintenance(request: Request) -> Response:
    """``PUT /v1/agent/service/maintenance/:id?enable=&reason=``."""
    backend = _backend(request)
    service_id = _path_rest(request, "service_id")
    if not service_id:
        raise errors.ConsulHTTPError(400, "Missing service ID")
    enable = _enable_flag(request)
    authz = backend.acl.resolve(request_token(request))
    _vet_service_update(backend, authz, service_id)
    set_service_maintenance(backend, service_id, enable, request.query_params.get("reason", ""))
    return _empty_ok()


ENDPOINTS = (
    ("/v1/agent/maintenance", ("PUT",), agent_node_maintenance),
    (
        "/v1/agent/service/maintenance/{service_id:path}",
        ("PUT",),
        agent_service_maintenance,
    ),
)
