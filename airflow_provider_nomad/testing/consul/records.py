"""Records of the emulated catalog (nodes, service instances, health checks) and their API shape.

``to_api()`` gives each record the JSON fields Consul's HTTP API uses (``structs.Node``,
``structs.NodeService``, ``structs.HealthCheck``); the ``*_SCHEMA`` mappings list the selectors
``?filter=`` accepts on each endpoint.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_nomad.testing.consul.config_entries import ConfigEntryStore
from airflow_provider_nomad.testing.consul.connect_ca import ConnectCA
from airflow_provider_nomad.testing.consul.definitions import CRITICAL, CheckSpec
from airflow_provider_nomad.testing.consul.durations import format_duration
from airflow_provider_nomad.testing.consul.filters import MAP, SCALAR, StructList
from airflow_provider_nomad.testing.consul.kv import KVStore
from airflow_provider_nomad.testing.consul.proxy_config import (
    CONNECT_PROXY,
    GATEWAY_KINDS,
    empty_proxy,
    ordered_proxy,
)
from airflow_provider_nomad.testing.consul.sessions import Session

SERF_CHECK_ID = "serfHealth"
SERF_CHECK_NAME = "Serf Health Status"
SERF_ALIVE_OUTPUT = "Agent alive and reachable"
SERF_FAILED_OUTPUT = "Agent not live or unreachable"

# -- filter schemas (selectors valid in ?filter= for each endpoint) -----------------------------
CHECK_SCHEMA: dict[str, Any] = {
    name: SCALAR
    for name in (
        "Node",
        "CheckID",
        "Name",
        "Status",
        "Notes",
        "Output",
        "ServiceID",
        "ServiceName",
        "Type",
    )
} | {"ServiceTags": SCALAR}
NODE_SCHEMA: dict[str, Any] = {
    "ID": SCALAR,
    "Node": SCALAR,
    "Address": SCALAR,
    "Datacenter": SCALAR,
    "TaggedAddresses": MAP,
    "Meta": MAP,
}
SERVICE_SCHEMA: dict[str, Any] = {
    "ID": SCALAR,
    "Service": SCALAR,
    "Kind": SCALAR,
    "Tags": SCALAR,
    "Address": SCALAR,
    "Port": SCALAR,
    "Meta": MAP,
    "TaggedAddresses": MAP,
    "EnableTagOverride": SCALAR,
    "Weights": {"Passing": SCALAR, "Warning": SCALAR},
}
HEALTH_SERVICE_SCHEMA: dict[str, Any] = {
    "Node": NODE_SCHEMA,
    "Service": SERVICE_SCHEMA,
    "Checks": StructList(CHECK_SCHEMA),
}
CATALOG_SERVICE_SCHEMA: dict[str, Any] = {
    name: SCALAR
    for name in (
        "ID",
        "Node",
        "Address",
        "Datacenter",
        "ServiceKind",
        "ServiceID",
        "ServiceName",
        "ServiceTags",
        "ServiceAddress",
        "ServicePort",
        "ServiceEnableTagOverride",
    )
} | {"NodeMeta": MAP, "ServiceMeta": MAP, "TaggedAddresses": MAP}


@dataclass
class HealthCheck:
    """A health check on a node, of the node itself (``serfHealth``) or of a service instance."""

    node: str
    check_id: str
    name: str
    status: str = CRITICAL
    notes: str = ""
    output: str = ""
    service_id: str = ""
    service_name: str = ""
    service_tags: list[str] = field(default_factory=list)
    type: str = ""
    interval: float = 0.0
    timeout: float = 0.0
    ttl: float = 0.0
    definition: dict[str, Any] = field(default_factory=dict)
    create_index: int = 0
    modify_index: int = 0
    ttl_generation: int = 0
    #: False for what the cluster keeps in the catalog only (the leader's ``serfHealth``):
    #: the local agent's own endpoints do not list it.
    agent_local: bool = True

    def to_api(self) -> dict[str, Any]:
        return {
            "Node": self.node,
            "CheckID": self.check_id,
            "Name": self.name,
            "Status": self.status,
            "Notes": self.notes,
            "Output": self.output,
            "ServiceID": self.service_id,
            "ServiceName": self.service_name,
            "ServiceTags": list(self.service_tags),
            "Type": self.type,
            "Interval": format_duration(self.interval) if self.interval else "",
            "Timeout": format_duration(self.timeout) if self.timeout else "",
            "ExposedPort": 0,
            "Definition": dict(self.definition),
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }


@dataclass
class ServiceInstance:
    """One registered instance of a service (``NodeService``)."""

    id: str
    name: str
    tags: list[str]
    address: str
    port: int
    meta: dict[str, str]
    weights: dict[str, int]
    enable_tag_override: bool = False
    tagged_addresses: dict[str, Any] = field(default_factory=dict)
    kind: str = ""
    #: ``Proxy`` as rendered (``ConnectProxyConfig``); empty for a plain service.
    proxy: dict[str, Any] = field(default_factory=dict)
    connect_native: bool = False
    locality: dict[str, str] | None = None
    #: Set on a sidecar the agent registered from its parent's ``Connect.SidecarService``.
    sidecar_of: str = ""
    create_index: int = 0
    modify_index: int = 0
    #: False for the ``consul`` service a server registers straight into the catalog.
    agent_local: bool = True

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.kind:
            out["Kind"] = self.kind
        out |= {
            "ID": self.id,
            "Service": self.name,
            "Tags": list(self.tags),
            "Address": self.address,
            "Meta": dict(self.meta),
            "Port": self.port,
            "Weights": dict(self.weights),
            "EnableTagOverride": self.enable_tag_override,
            "Proxy": self.proxy_api(),
            "Connect": self.connect_api(),
        }
        if self.locality is not None:
            out["Locality"] = dict(self.locality)
        out |= {"CreateIndex": self.create_index, "ModifyIndex": self.modify_index}
        if self.tagged_addresses:
            out["TaggedAddresses"] = {k: dict(v) for k, v in self.tagged_addresses.items()}
        return out

    def proxy_api(self) -> dict[str, Any]:
        return ordered_proxy(copy.deepcopy(self.proxy)) if self.proxy else empty_proxy()

    def connect_api(self) -> dict[str, Any]:
        return {"Native": True} if self.connect_native else {}

    @property
    def acl_name(self) -> str:
        """The service name ACLs judge this instance by (``NodeService.CompoundServiceName``):
        a Connect proxy is read and written as the service it fronts."""
        if self.kind == CONNECT_PROXY and self.proxy.get("DestinationServiceName"):
            return self.proxy["DestinationServiceName"]
        return self.name

    @property
    def is_proxy_or_gateway(self) -> bool:
        return self.kind in (CONNECT_PROXY, *GATEWAY_KINDS)

    def has_tags(self, tags: Iterable[str]) -> bool:
        # Consul compares tags case-insensitively (state store serviceTagFilter).
        own = {tag.lower() for tag in self.tags}
        return all(tag.lower() in own for tag in tags)


@dataclass
class Node:
    """A catalog node: the agent's own node, or one registered through the catalog API."""

    id: str
    name: str
    address: str
    datacenter: str
    tagged_addresses: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    create_index: int = 0
    modify_index: int = 0
    services: dict[str, ServiceInstance] = field(default_factory=dict)
    checks: dict[str, HealthCheck] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Node": self.name,
            "Address": self.address,
            "Datacenter": self.datacenter,
            "TaggedAddresses": dict(self.tagged_addresses),
            "Meta": dict(self.meta),
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    def node_checks(self) -> list[HealthCheck]:
        return [check for check in self.checks.values() if not check.service_id]

    def service_checks(self, service_id: str) -> list[HealthCheck]:
        return [check for check in self.checks.values() if check.service_id == service_id]


@dataclass
class Datacenter:
    """One datacenter's catalog and the Raft indexes of its tables."""

    name: str
    nodes: dict[str, Node] = field(default_factory=dict)
    table_index: dict[str, int] = field(
        default_factory=lambda: {"nodes": 0, "services": 0, "checks": 0, "sessions": 0}
    )
    kv: KVStore = field(default_factory=KVStore)
    sessions: dict[str, Session] = field(default_factory=dict)
    service_index: dict[str, int] = field(default_factory=dict)
    extinction_index: int = 0
    config_entries: ConfigEntryStore = field(default_factory=ConfigEntryStore)
    connect_ca: ConnectCA = field(default_factory=ConnectCA)
    #: node -> its network coordinate (``/v1/coordinate/...``), and the index of the last update
    coordinates: dict[str, dict[str, Any]] = field(default_factory=dict)
    coordinates_index: int = 0

    def instances(self, name: str) -> list[tuple[Node, ServiceInstance]]:
        found = [
            (node, service)
            for node in self.nodes.values()
            for service in node.services.values()
            if service.name == name
        ]
        return sorted(found, key=lambda pair: (pair[0].name, pair[1].id))

    def service_names(self) -> set[str]:
        return {s.name for node in self.nodes.values() for s in node.services.values()}


def check_from_spec(
    spec: CheckSpec,
    *,
    node: str,
    check_id: str,
    name: str,
    service: ServiceInstance | None,
    previous: HealthCheck | None,
) -> HealthCheck:
    definition: dict[str, Any] = {}
    if spec.http:
        definition = {"HTTP": spec.http} | ({"Method": spec.method} if spec.method else {})
    elif spec.tcp:
        definition = {"TCP": spec.tcp}
    return HealthCheck(
        node=node,
        check_id=check_id,
        name=name,
        # An explicit Status wins; a re-registered check keeps the status it had.
        status=spec.status or (previous.status if previous else CRITICAL),
        notes=spec.notes,
        output=previous.output if previous and not spec.status else "",
        service_id=service.id if service else "",
        service_name=service.name if service else "",
        service_tags=list(service.tags) if service else [],
        type=spec.type,
        interval=spec.interval,
        timeout=spec.timeout,
        ttl=spec.ttl,
        definition=definition,
        create_index=previous.create_index if previous else 0,
    )
