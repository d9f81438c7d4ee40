"""The discovery chain compiler: a service's routers, splitters and resolvers as one graph.

After ``agent/consul/discoverychain/compile.go`` (Consul CE: one namespace and partition,
``default``): the start node is the service's router when it has one, else its splitter, else
its resolver; a router gets a catch-all ``/`` route last; splitters that lead to splitters are
flattened (weights multiplied); a resolver follows ``Redirect`` and ``DefaultSubset``, checks
that a referenced subset exists, and lists its ``Failover`` targets. Every target carries its
connect timeout (5s unless configured), its mesh gateway mode (service-defaults, then
proxy-defaults, then the override) and its SNI ``<subset.>service.namespace.dc.internal.<trust
domain>``. Overrides (protocol, connect timeout, mesh gateway mode) that change the result set
``CustomizationHash``; an override protocol that is not HTTP-like drops routers and splitters.

Known simplification: ``CustomizationHash`` is a hash of the same overrides, not Consul's
``hashstructure`` value, so it differs from a real server's while having the same role.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_nomad.testing.consul import config_entries as ce
from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.durations import format_duration, parse_duration

DEFAULT_NAMESPACE = "default"
DEFAULT_PARTITION = "default"
DEFAULT_CONNECT_TIMEOUT = 5.0
HTTP_LIKE = ("http", "http2", "grpc")


class ChainError(Exception):
    """A ``ConfigEntryGraphError``: the entries do not compile into a chain."""


@dataclass(frozen=True)
class Overrides:
    protocol: str = ""
    connect_timeout: float = 0.0
    mesh_gateway_mode: str = ""


@dataclass
class _Target:
    service: str
    subset: str
    datacenter: str

    @property
    def id(self) -> str:
        base = f"{self.service}.{DEFAULT_NAMESPACE}.{DEFAULT_PARTITION}.{self.datacenter}"
        return f"{self.subset}.{base}" if self.subset else base


def _rewrite(target: _Target, spec: dict[str, Any], datacenter: str = "") -> _Target:
    """``rewriteTarget``: another service drops the subset; a given subset or datacenter wins."""
    service = spec.get("Service") or target.service
    subset = target.subset if service == target.service else ""
    return _Target(
        service,
        spec.get("ServiceSubset") or subset,
        datacenter or spec.get("Datacenter") or target.datacenter,
    )


def _go_float(value: float) -> float | int:
    """A weight as Go writes a float32: ``90``, not ``90.0``."""
    return int(value) if float(value).is_integer() else value


def _seconds(value: Any) -> float:
    if value in (None, "", 0):
        return 0.0
    if isinstance(value, (int, float)):
        return value / 1e9
    return parse_duration(str(value))


@dataclass
class _Compiler:
    service: str
    datacenter: str
    trust_domain: str
    store: ce.ConfigEntryStore
    overrides: Overrides
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    protocol: str = ""
    advanced: bool = False
    customized: set[str] = field(default_factory=set)

    @property
    def disable_advanced(self) -> bool:
        return bool(self.overrides.protocol) and self.overrides.protocol not in HTTP_LIKE

    # -- entries ---------------------------------------------------------------------------------
    def _entry(self, kind: str, name: str) -> dict[str, Any] | None:
        stored = self.store.get(kind, name)
        return stored.entry if stored is not None else None

    def _record_protocol(self, service: str) -> None:
        protocol = self.store.service_protocol(service).lower() or ce.DEFAULT_PROTOCOL
        if not self.protocol:
            self.protocol = protocol
        elif self.protocol != protocol:
            raise ChainError(
                f"discovery chain {errors.go_quote(self.service)} uses inconsistent protocols; "
                f"service {errors.go_quote(service)} has {errors.go_quote(protocol)} which is "
                f"not {errors.go_quote(self.protocol)}"
            )

    # -- graph -----------------------------------------------------------------------------------
    def compile(self) -> dict[str, Any]:
        router = self._entry(ce.SERVICE_ROUTER, self.service)
        if router is not None and self.disable_advanced:
            router, _ = None, self.customized.add("protocol")
        if router is None:
            start = self._splitter_or_resolver(_Target(self.service, "", self.datacenter))
        else:
            start = self._router(router)
        self._flatten_splitters()
        self._prune(start)
        if self.advanced and self.protocol not in HTTP_LIKE:
            raise ChainError(
                f"discovery chain {errors.go_quote(self.service)} uses a protocol "
                f"{errors.go_quote(self.protocol)} that does not permit advanced routing or "
                "splitting behavior"
            )
        if self.overrides.protocol and self.overrides.protocol != self.protocol:
            self.protocol = self.overrides.protocol
            self.customized.add("protocol")
        chain: dict[str, Any] = {
            "ServiceName": self.service,
            "Namespace": DEFAULT_NAMESPACE,
            "Partition": DEFAULT_PARTITION,
            "Datacenter": self.datacenter,
        }
        if self.customized:
            chain["CustomizationHash"] = self._customization_hash()
        if self._is_default(start):
            chain["Default"] = True
        chain["Protocol"] = self.protocol
        defaults = self._entry(ce.SERVICE_DEFAULTS, self.service)
        if defaults is not None and defaults.get("Meta"):
            chain["ServiceMeta"] = dict(defaults["Meta"])
        chain |= {
            "StartNode": start,
            "Nodes": self.nodes,
            "Targets": self.targets,
            "AutoVirtualIPs": None,
            "ManualVirtualIPs": None,
        }
        return chain

    def _customization_hash(self) -> str:
        parts = [
            f"mesh={self.overrides.mesh_gateway_mode}" if "mesh_gateway" in self.customized else "",
            f"protocol={self.overrides.protocol}" if "protocol" in self.customized else "",
            f"timeout={self.overrides.connect_timeout}" if "timeout" in self.customized else "",
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:8]

    def _is_default(self, start: str) -> bool:
        node = self.nodes[start]
        if node["Type"] != "resolver" or not node["Resolver"].get("Default"):
            return False
        return self.targets[node["Resolver"]["Target"]]["Service"] == self.service

    def _router(self, router: dict[str, Any]) -> str:
        self.advanced = True
        self._record_protocol(router["Name"])
        routes = []
        for route in router.get("Routes") or []:
            destination = route.get("Destination") or {}
            service = destination.get("Service") or self.service
            subset = destination.get("ServiceSubset") or ""
            target = _Target(service, subset, self.datacenter)
            next_node = self._resolver(target) if subset else self._splitter_or_resolver(target)
            routes.append({"Definition": copy.deepcopy(route), "NextNode": next_node})
        catch_all = self._splitter_or_resolver(_Target(router["Name"], "", self.datacenter))
        routes.append(
            {
                "Definition": {
                    "Match": {"HTTP": {"PathPrefix": "/"}},
                    "Destination": {
                        "Service": router["Name"],
                        "Namespace": DEFAULT_NAMESPACE,
                        "Partition": DEFAULT_PARTITION,
                    },
                },
                "NextNode": catch_all,
            }
        )
        key = f"router:{router['Name']}.{DEFAULT_NAMESPACE}.{DEFAULT_PARTITION}"
        self.nodes[key] = {"Type": "router", "Name": key.split(":", 1)[1], "Routes": routes}
        return key

    def _splitter_or_resolver(self, target: _Target) -> str:
        splitter = self._splitter(target.service)
        return splitter if splitter is not None else self._resolver(target)

    def _splitter(self, service: str) -> str | None:
        name = f"{service}.{DEFAULT_NAMESPACE}.{DEFAULT_PARTITION}"
        key = f"splitter:{name}"
        if key in self.nodes:
            return key
        entry = self._entry(ce.SERVICE_SPLITTER, service)
        if entry is not None and self.disable_advanced:
            self.customized.add("protocol")
            return None
        if entry is None:
            return None
        node: dict[str, Any] = {"Type": "splitter", "Name": name, "Splits": []}
        self.nodes[key] = node  # recorded first: a loop below finds it instead of recursing
        for split in entry.get("Splits") or []:
            split_service = split.get("Service") or service
            subset = split.get("ServiceSubset") or ""
            next_node = None
            if split_service != service and not subset:
                next_node = self._splitter(split_service)
            if next_node is None:
                next_node = self._resolver(_Target(split_service, subset, self.datacenter))
            node["Splits"].append(
                {
                    "Definition": copy.deepcopy(split),
                    "Weight": _go_float(float(split.get("Weight") or 0)),
                    "NextNode": next_node,
                }
            )
        self.advanced = True
        return key

    def _resolver(self, target: _Target, for_failover: bool = False) -> str:
        seen: list[str] = []
        while True:
            key = f"resolver:{target.id}"
            if key in self.nodes:
                return key
            self._record_protocol(target.service)
            resolver = self._entry(ce.SERVICE_RESOLVER, target.service) or {}
            if target.id in seen:
                seen.append(target.id)
                raise ChainError(f"detected circular resolver redirect: [{' -> '.join(seen)}]")
            seen.append(target.id)
            redirect = resolver.get("Redirect")
            if redirect:
                redirected = _rewrite(target, redirect)
                if redirected.id != target.id:
                    target = redirected
                    continue
            if not target.subset and resolver.get("DefaultSubset"):
                target = _Target(target.service, resolver["DefaultSubset"], target.datacenter)
                continue
            break
        subsets = resolver.get("Subsets") or {}
        if target.subset and target.subset not in subsets:
            raise ChainError(
                f"service {errors.go_quote(target.service)} does not have a subset named "
                f"{errors.go_quote(target.subset)}"
            )
        timeout = _seconds(resolver.get("ConnectTimeout")) or DEFAULT_CONNECT_TIMEOUT
        if self.overrides.connect_timeout and self.overrides.connect_timeout != timeout:
            timeout = self.overrides.connect_timeout
            self.customized.add("timeout")
        self._add_target(target, timeout, subsets.get(target.subset, {}))
        compiled: dict[str, Any] = {"ConnectTimeout": format_duration(timeout)}
        is_default = not any(
            resolver.get(name)
            for name in (
                "DefaultSubset",
                "Subsets",
                "Redirect",
                "Failover",
                "ConnectTimeout",
                "RequestTimeout",
                "LoadBalancer",
                "PrioritizeByLocality",
            )
        )
        if is_default:
            compiled["Default"] = True
        if resolver.get("RequestTimeout"):
            compiled["RequestTimeout"] = int(_seconds(resolver["RequestTimeout"]) * 1e9)
        compiled["Target"] = target.id
        node: dict[str, Any] = {"Type": "resolver", "Name": target.id, "Resolver": compiled}
        if resolver.get("LoadBalancer"):
            node["LoadBalancer"] = copy.deepcopy(resolver["LoadBalancer"])
        if for_failover:
            return key
        self.nodes[key] = node
        failover = resolver.get("Failover") or {}
        policy = failover.get(target.subset) or failover.get("*")
        if policy:
            failover_targets = []
            for candidate in self._failover_targets(target, policy):
                if candidate.id != target.id:
                    self._resolver(candidate, for_failover=True)
                    failover_targets.append(candidate.id)
            if failover_targets:
                compiled["Failover"] = {"Targets": failover_targets}
        return key

    def _failover_targets(self, target: _Target, policy: dict[str, Any]) -> list[_Target]:
        if policy.get("Datacenters"):
            return [_rewrite(target, policy, dc) for dc in policy["Datacenters"]]
        if policy.get("Targets"):
            return [_rewrite(target, spec) for spec in policy["Targets"]]
        return [_rewrite(target, policy)]

    def _add_target(self, target: _Target, timeout: float, subset: dict[str, Any]) -> None:
        if target.id in self.targets:
            return
        mesh_gateway: dict[str, Any] = {}
        defaults = self._entry(ce.SERVICE_DEFAULTS, target.service)
        if defaults is not None and defaults.get("MeshGateway"):
            mesh_gateway = dict(defaults["MeshGateway"])
        proxy_defaults = self._entry(ce.PROXY_DEFAULTS, ce.PROXY_CONFIG_GLOBAL)
        if not mesh_gateway.get("Mode") and proxy_defaults and proxy_defaults.get("MeshGateway"):
            mesh_gateway = dict(proxy_defaults["MeshGateway"])
        override = self.overrides.mesh_gateway_mode
        if override and mesh_gateway.get("Mode", "") != override:
            mesh_gateway = {"Mode": override}
            self.customized.add("mesh_gateway")
        sni_parts = [target.service, DEFAULT_NAMESPACE, target.datacenter, "internal"]
        if target.subset:
            sni_parts.insert(0, target.subset)
        sni = ".".join([*sni_parts, self.trust_domain])
        external = bool(defaults and defaults.get("ExternalSNI"))
        entry: dict[str, Any] = {
            "ConnectTimeout": format_duration(timeout),
            "ID": target.id,
            "Service": target.service,
        }
        if target.subset:
            entry["ServiceSubset"] = target.subset
        entry |= {
            "Namespace": DEFAULT_NAMESPACE,
            "Partition": DEFAULT_PARTITION,
            "Datacenter": target.datacenter,
            "MeshGateway": {} if external else mesh_gateway,
            "Subset": copy.deepcopy(subset),
            "TransparentProxy": {},
        }
        if external:
            entry["External"] = True
        entry |= {"SNI": defaults["ExternalSNI"] if external else sni, "Name": sni}
        self.targets[target.id] = entry

    def _flatten_splitters(self) -> None:
        changed = True
        while changed:
            changed = False
            for node in self.nodes.values():
                if node["Type"] != "splitter":
                    continue
                fixed = []
                for split in node["Splits"]:
                    inner = self.nodes[split["NextNode"]]
                    if inner["Type"] != "splitter" or inner is node:
                        fixed.append(split)
                        continue
                    changed = True
                    for inner_split in inner["Splits"]:
                        weight = _go_float(round(split["Weight"] * inner_split["Weight"] / 100, 2))
                        fixed.append(inner_split | {"Weight": weight})
                node["Splits"] = fixed

    def _prune(self, start: str) -> None:
        todo, visited = [start], set()
        while todo:
            key = todo.pop()
            if key in visited:
                continue
            visited.add(key)
            node = self.nodes[key]
            todo.extend(route["NextNode"] for route in node.get("Routes", []))
            todo.extend(split["NextNode"] for split in node.get("Splits", []))
        for key in [key for key in self.nodes if key not in visited]:
            del self.nodes[key]
        used = {
            node["Resolver"]["Target"] for node in self.nodes.values() if node["Type"] == "resolver"
        }
        used |= {
            failover
            for node in self.nodes.values()
            if node["Type"] == "resolver"
            for failover in node["Resolver"].get("Failover", {}).get("Targets", [])
        }
        for target_id in [t for t in self.targets if t not in used]:
            del self.targets[target_id]


def compile_chain(
    service: str,
    *,
    datacenter: str,
    trust_domain: str,
    store: ce.ConfigEntryStore,
    overrides: Overrides = Overrides(),
) -> dict[str, Any]:
    """The ``CompiledDiscoveryChain`` of ``service`` as ``/v1/discovery-chain`` answers it
    (``ChainError`` when the entries do not compile)."""
    return _Compiler(service, datacenter, trust_domain, store, overrides).compile()
