"""Catalog reads of the service mesh: a service's Connect endpoints, its gateways, and the
central config merged into proxy registrations.

- Connect endpoints of a service (``/v1/health/connect``, ``/v1/catalog/connect``): its
  ``connect-proxy`` instances (``Proxy.DestinationServiceName``) and its Connect-native ones.
- Gateway services (``/v1/catalog/gateway-services``): the links the state store derives from
  ``ingress-gateway`` and ``terminating-gateway`` config entries (``structs.GatewayService``);
  ``/v1/health/ingress/:service`` answers the ingress gateways linked to a service.
- ``merge-central-config``: a proxy's or gateway's ``Proxy`` with ``proxy-defaults`` and the
  destination's ``service-defaults`` applied under what the registration set itself
  (``configentry.MergeNodeServiceWithCentralConfig``); other services are left as they are.
"""

from __future__ import annotations

import copy
from typing import Any

from airflow_provider_nomad.testing.consul import config_entries as ce
from airflow_provider_nomad.testing.consul.proxy_config import (
    CONNECT_PROXY,
    INGRESS_GATEWAY,
    ordered_proxy,
)
from airflow_provider_nomad.testing.consul.records import Datacenter, Node, ServiceInstance

Instance = tuple[Node, ServiceInstance]


def mesh_index(dc: Datacenter) -> int:
    """What a mesh read reports and blocks on: any catalog or config-entry write moves it
    (proxies and gateways carry other names than the service they serve)."""
    return max(
        1,
        dc.table_index.get("services", 0),
        dc.table_index.get("checks", 0),
        dc.table_index.get("config-entries", 0),
    )


def _all_instances(dc: Datacenter) -> list[Instance]:
    found = [(node, service) for node in dc.nodes.values() for service in node.services.values()]
    return sorted(found, key=lambda pair: (pair[0].name, pair[1].id))


def connect_instances(dc: Datacenter, service: str) -> list[Instance]:
    """The instances that accept Connect traffic for ``service``."""
    return [
        (node, instance)
        for node, instance in _all_instances(dc)
        if (
            instance.kind == CONNECT_PROXY
            and instance.proxy.get("DestinationServiceName") == service
        )
        or (instance.kind == "" and instance.name == service and instance.connect_native)
    ]


def _typical_services(dc: Datacenter) -> list[str]:
    return sorted(
        {
            instance.name
            for node in dc.nodes.values()
            for instance in node.services.values()
            if instance.kind == ""
        }
    )


def gateway_services(dc: Datacenter, gateway: str | None = None) -> list[dict[str, Any]]:
    """``GatewayService`` links from the gateway config entries (of ``gateway`` when given)."""
    out: list[dict[str, Any]] = []
    store = dc.config_entries
    for stored in store.of_kind(ce.INGRESS_GATEWAY):
        name = stored.entry["Name"]
        if gateway is not None and name != gateway:
            continue
        for listener in stored.entry.get("Listeners") or []:
            for linked in listener.get("Services") or []:
                wildcard = linked.get("Name") == "*"
                targets = _typical_services(dc) if wildcard else [linked["Name"]]
                for target in targets:
                    link: dict[str, Any] = {
                        "Gateway": {"Name": name},
                        "Service": {"Name": target},
                        "GatewayKind": INGRESS_GATEWAY,
                        "Port": int(listener.get("Port") or 0),
                        "Protocol": listener["Protocol"],
                    }
                    if linked.get("Hosts"):
                        link["Hosts"] = list(linked["Hosts"])
                    if wildcard:
                        link["FromWildcard"] = True
                    out.append(
                        link
                        | {"CreateIndex": stored.create_index, "ModifyIndex": stored.modify_index}
                    )
    for stored in store.of_kind(ce.TERMINATING_GATEWAY):
        name = stored.entry["Name"]
        if gateway is not None and name != gateway:
            continue
        for linked in stored.entry.get("Services") or []:
            wildcard = linked.get("Name") == "*"
            for target in _typical_services(dc) if wildcard else [linked["Name"]]:
                link = {
                    "Gateway": {"Name": name},
                    "Service": {"Name": target},
                    "GatewayKind": ce.TERMINATING_GATEWAY,
                }
                for key in ("CAFile", "CertFile", "KeyFile", "SNI"):
                    if linked.get(key):
                        link[key] = linked[key]
                if wildcard:
                    link["FromWildcard"] = True
                out.append(
                    link | {"CreateIndex": stored.create_index, "ModifyIndex": stored.modify_index}
                )
    return sorted(out, key=lambda link: (link["Gateway"]["Name"], link["Service"]["Name"]))


def ingress_instances(dc: Datacenter, service: str) -> list[Instance]:
    """Instances of the ingress gateways that route to ``service``."""
    gateways = {
        link["Gateway"]["Name"]
        for link in gateway_services(dc)
        if link["GatewayKind"] == INGRESS_GATEWAY and link["Service"]["Name"] == service
    }
    return [
        (node, instance)
        for node, instance in _all_instances(dc)
        if instance.kind == INGRESS_GATEWAY and instance.name in gateways
    ]


def merged_proxy(dc: Datacenter, instance: ServiceInstance) -> dict[str, Any]:
    """The instance's ``Proxy`` with the central config merged in (its own values win)."""
    proxy = instance.proxy_api()
    if not instance.is_proxy_or_gateway:
        return proxy
    store = dc.config_entries
    destination = (
        instance.proxy.get("DestinationServiceName", "")
        if instance.kind == CONNECT_PROXY
        else instance.name
    )
    config: dict[str, Any] = {}
    mode, mesh_gateway, expose = "", {}, {}
    global_defaults = store.get(ce.PROXY_DEFAULTS, ce.PROXY_CONFIG_GLOBAL)
    if global_defaults is not None:
        config |= copy.deepcopy(global_defaults.entry.get("Config") or {})
        mode = global_defaults.entry.get("Mode") or ""
        mesh_gateway = global_defaults.entry.get("MeshGateway") or {}
        expose = global_defaults.entry.get("Expose") or {}
    service_defaults = store.get(ce.SERVICE_DEFAULTS, destination)
    if service_defaults is not None:
        if service_defaults.entry.get("Protocol"):
            config["protocol"] = service_defaults.entry["Protocol"]
        mode = service_defaults.entry.get("Mode") or mode
        mesh_gateway = service_defaults.entry.get("MeshGateway") or mesh_gateway
        expose = service_defaults.entry.get("Expose") or expose
    config |= proxy.get("Config") or {}
    if config:
        proxy["Config"] = config
    proxy["Mode"] = proxy.get("Mode") or mode
    proxy["MeshGateway"] = proxy.get("MeshGateway") or copy.deepcopy(mesh_gateway)
    proxy["Expose"] = proxy.get("Expose") or copy.deepcopy(expose)
    return ordered_proxy(proxy)


def merge_into_health_entries(dc: Datacenter, entries: list[dict[str, Any]]) -> None:
    """Apply :func:`merged_proxy` to ``CheckServiceNode`` entries, in place."""
    for entry in entries:
        instance = _find(dc, entry["Node"]["Node"], entry["Service"]["ID"])
        if instance is not None and instance.is_proxy_or_gateway:
            entry["Service"]["Proxy"] = merged_proxy(dc, instance)


def merge_into_service_nodes(dc: Datacenter, nodes: list[dict[str, Any]]) -> None:
    """Apply :func:`merged_proxy` to ``ServiceNode`` entries, in place."""
    for entry in nodes:
        instance = _find(dc, entry["Node"], entry["ServiceID"])
        if instance is not None and instance.is_proxy_or_gateway:
            entry["ServiceProxy"] = merged_proxy(dc, instance)


def _find(dc: Datacenter, node_name: str, service_id: str) -> ServiceInstance | None:
    node = dc.nodes.get(node_name)
    return node.services.get(service_id) if node else None
