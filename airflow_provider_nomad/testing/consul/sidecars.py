"""The sidecar proxy an agent registers for a service's ``Connect.SidecarService``.

As ``sidecarServiceFromNodeService`` (``agent/sidecar_service.go``) builds it: ID
``<parent ID>-sidecar-proxy``, name ``<parent name>-sidecar-proxy``, kind ``connect-proxy``, the
parent's tags, meta, locality and address unless given, ``Proxy.Destination*`` naming the
parent, ``LocalServiceAddress`` 127.0.0.1 and the parent's port, the lowest free port of the
agent's sidecar range (21000-21255, the default ``ports.sidecar_min_port``/``max_port``) and,
without checks of its own, the two default checks (TCP on the proxy's port, alias of the parent).
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.definitions import CheckSpec, ServiceSpec, parse_service
from airflow_provider_nomad.testing.consul.proxy_config import (
    CONNECT_PROXY,
    DEFAULT_LOCAL_ADDRESS,
    multierror,
)

SIDECAR_SUFFIX = "-sidecar-proxy"
SIDECAR_MIN_PORT = 21000
SIDECAR_MAX_PORT = 21255
LISTENING_CHECK_INTERVAL = 10.0


def sidecar_id(parent_id: str) -> str:
    return parent_id + SIDECAR_SUFFIX


def sidecar_spec(parent: ServiceSpec, ports_in_use: Iterable[tuple[str, int]]) -> ServiceSpec:
    """The sidecar of ``parent`` (which has ``sidecar`` set).

    :param ports_in_use: ``(service ID, port)`` of every service on the agent, for the port
        allocation (a sidecar being re-registered keeps its port).
    """
    assert parent.sidecar is not None
    body = dict(parent.sidecar)
    keys = {str(key).lower().replace("_", "") for key in body}
    if "name" not in keys:
        body["Name"] = parent.name + SIDECAR_SUFFIX
    if "kind" not in keys:
        body["Kind"] = CONNECT_PROXY
    proxy = next((v for k, v in body.items() if str(k).lower() == "proxy"), None) or {}
    proxy = dict(proxy)
    proxy_keys = {str(key).lower().replace("_", "") for key in proxy}
    if "destinationservicename" not in proxy_keys:
        proxy["DestinationServiceName"] = parent.name
    if "destinationserviceid" not in proxy_keys:
        proxy["DestinationServiceID"] = parent.id
    body = {k: v for k, v in body.items() if str(k).lower() != "proxy"} | {"Proxy": proxy}
    spec = parse_service(body)
    if spec.sidecar is not None:
        raise errors.ConsulHTTPError(
            400,
            "Validation failed: "
            + multierror(["A SidecarService cannot have a nested SidecarService"]),
        )
    spec.id = sidecar_id(parent.id)
    spec.sidecar_of = parent.id
    if not spec.tags:
        spec.tags = list(parent.tags)
    if not spec.meta:
        spec.meta = dict(parent.meta)
    if spec.locality is None and parent.locality is not None:
        spec.locality = dict(parent.locality)
    if not spec.address:
        spec.address = parent.address
    if not spec.proxy.get("LocalServiceAddress") or spec.proxy.get("LocalServicePort", 0) < 1:
        spec.proxy.setdefault("LocalServiceAddress", DEFAULT_LOCAL_ADDRESS)
        if spec.proxy.get("LocalServicePort", 0) < 1 and parent.port:
            spec.proxy["LocalServicePort"] = parent.port
    if spec.port == 0:
        spec.port = _allocate_port(spec.id, ports_in_use)
    if not spec.checks:
        address = spec.address or spec.proxy.get("LocalServiceAddress", DEFAULT_LOCAL_ADDRESS)
        host = f"[{address}]" if ":" in address else address
        spec.checks = [
            CheckSpec(
                name="Connect Sidecar Listening",
                tcp=f"{host}:{spec.port}",
                interval=LISTENING_CHECK_INTERVAL,
            ),
            CheckSpec(name=f"Connect Sidecar Aliasing {parent.id}", alias_service=parent.id),
        ]
    return spec


def _allocate_port(service_id: str, ports_in_use: Iterable[tuple[str, int]]) -> int:
    used: set[int] = set()
    for other_id, port in ports_in_use:
        if SIDECAR_MIN_PORT <= port <= SIDECAR_MAX_PORT:
            if other_id == service_id:
                return port  # re-registration keeps the port it was given
            used.add(port)
    for port in range(SIDECAR_MIN_PORT, SIDECAR_MAX_PORT + 1):
        if port not in used:
            return port
    raise errors.ConsulHTTPError(
        500,
        "no port provided for sidecar_service and none left in the configured range "
        f"[{SIDECAR_MIN_PORT}, {SIDECAR_MAX_PORT}]",
    )
