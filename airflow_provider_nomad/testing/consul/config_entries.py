"""Config entries (``/v1/config``): decoding, normalization, validation and check-and-set.

Follows ``agent/structs/config_entry*.go``: an entry is decoded from the request's map with
snake_case aliases and unknown keys refused (``DecodeConfigEntry``), then ``Normalize`` fills
the defaults Consul fills (``Kind``, ``proxy-defaults``' name ``global``, a lower-case
``Protocol``, an ingress listener's ``tcp``, an intention source's ``Precedence`` and
``Type``) and ``Validate`` refuses what Consul refuses, with Consul's texts. Entries are kept in
the JSON form Consul answers with, fields in Consul's order, empty ``omitempty`` fields left out.

Kinds: service-defaults, proxy-defaults, service-resolver, service-router, service-splitter,
ingress-gateway, terminating-gateway, service-intentions, mesh. Consul's other kinds
(api-gateway, http-route, exported-services...) are answered 501 naming the kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.durations import format_duration, parse_duration
from airflow_provider_nomad.testing.consul.filters import MAP, SCALAR
from airflow_provider_nomad.testing.consul.proxy_config import multierror

SERVICE_DEFAULTS = "service-defaults"
PROXY_DEFAULTS = "proxy-defaults"
SERVICE_RESOLVER = "service-resolver"
SERVICE_ROUTER = "service-router"
SERVICE_SPLITTER = "service-splitter"
INGRESS_GATEWAY = "ingress-gateway"
TERMINATING_GATEWAY = "terminating-gateway"
SERVICE_INTENTIONS = "service-intentions"
MESH = "mesh"
PROXY_CONFIG_GLOBAL = "global"
DEFAULT_PROTOCOL = "tcp"
L7_PROTOCOLS = ("http", "http2", "grpc")
INGRESS_PROTOCOLS = ("tcp", *L7_PROTOCOLS)
#: Kinds Consul knows that the emulator does not model.
UNMODELLED_KINDS = (
    "exported-services",
    "api-gateway",
    "inline-certificate",
    "file-system-certificate",
    "http-route",
    "tcp-route",
    "bound-api-gateway",
    "sameness-group",
    "jwt-provider",
    "control-plane-request-limit",
)
CONFIG_ENTRY_NOT_FOUND = "Config entry not found"

# Top-level fields of each kind, in the order Consul writes them. ``always`` fields are written
# even when empty (no ``omitempty``, or a struct value ``omitempty`` does not drop).
_COMMON_TAIL = ("Meta", "Namespace", "Partition")


@dataclass(frozen=True)
class KindSpec:
    fields: tuple[str, ...]
    always: dict[str, Any] = field(default_factory=dict)
    durations: tuple[str, ...] = ()


KINDS: dict[str, KindSpec] = {
    SERVICE_DEFAULTS: KindSpec(
        (
            "Kind",
            "Name",
            "Protocol",
            "Mode",
            "TransparentProxy",
            "MutualTLSMode",
            "MeshGateway",
            "Expose",
            "ExternalSNI",
            "UpstreamConfig",
            "Destination",
            "MaxInboundConnections",
            "LocalConnectTimeoutMs",
            "LocalRequestTimeoutMs",
            "BalanceInboundConnections",
            "RateLimits",
            "EnvoyExtensions",
            *_COMMON_TAIL,
        ),
        always={"Protocol": "", "TransparentProxy": {}, "MeshGateway": {}, "Expose": {}},
    ),
    PROXY_DEFAULTS: KindSpec(
        (
            "Kind",
            "Name",
            "Config",
            "Mode",
            "TransparentProxy",
            "MutualTLSMode",
            "MeshGateway",
            "Expose",
            "AccessLogs",
            "EnvoyExtensions",
            "FailoverPolicy",
            "PrioritizeByLocality",
            *_COMMON_TAIL,
        ),
        always={"Config": None, "TransparentProxy": {}, "MeshGateway": {}, "Expose": {}},
    ),
    SERVICE_RESOLVER: KindSpec(
        (
            "Kind",
            "Name",
            "DefaultSubset",
            "Subsets",
            "Redirect",
            "Failover",
            "ConnectTimeout",
            "RequestTimeout",
            "PrioritizeByLocality",
            "LoadBalancer",
            *_COMMON_TAIL,
        ),
        durations=("ConnectTimeout", "RequestTimeout"),
    ),
    SERVICE_ROUTER: KindSpec(("Kind", "Name", "Routes", *_COMMON_TAIL)),
    SERVICE_SPLITTER: KindSpec(("Kind", "Name", "Splits", *_COMMON_TAIL)),
    INGRESS_GATEWAY: KindSpec(
        ("Kind", "Name", "TLS", "Listeners", "Defaults", *_COMMON_TAIL),
        always={"TLS": {"Enabled": False}, "Listeners": None},
    ),
    TERMINATING_GATEWAY: KindSpec(
        ("Kind", "Name", "Services", *_COMMON_TAIL), always={"Services": None}
    ),
    SERVICE_INTENTIONS: KindSpec(
        ("Kind", "Name", "Sources", "JWT", *_COMMON_TAIL), always={"Sources": None}
    ),
    MESH: KindSpec(
        (
            "Kind",
            "Name",
            "TransparentProxy",
            "AllowEnablingPermissiveMutualTLS",
            "ValidateClusters",
            "TLS",
            "HTTP",
            "Peering",
            *_COMMON_TAIL,
        ),
        always={"TransparentProxy": {}},
    ),
}

# Nested snake_case keys become Consul's field names: words capitalized, these kept upper-case.
_ACRONYMS = {
    "id": "ID",
    "sni": "SNI",
    "tls": "TLS",
    "ttl": "TTL",
    "json": "JSON",
    "ip": "IP",
    "ca": "CA",
    "url": "URL",
    "http": "HTTP",
    "jwt": "JWT",
    "dc": "DC",
    "grpc": "GRPC",
}
_OPAQUE_MAPS = ("Config", "Meta", "Header", "LegacyMeta")
#: Maps keyed by user names (subset names, "*"): keys kept, values decoded.
_NAMED_MAPS = ("Subsets", "Failover")


def _camel(key: str) -> str:
    if "_" not in key and key[:1].isupper():
        return key
    return "".join(
        _ACRONYMS.get(word.lower(), word[:1].upper() + word[1:]) for word in key.split("_")
    )


def _canonical(value: Any) -> Any:
    """Nested maps with Consul's field names (opaque maps such as ``Config`` left as sent)."""
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = _camel(str(key))
        out[name] = _field_value(name, item)
    return out


def _field_value(name: str, value: Any) -> Any:
    if name in _OPAQUE_MAPS:
        return value
    if name in _NAMED_MAPS and isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    return _canonical(value)


def _squash(key: str) -> str:
    return key.lower().replace("_", "")


class ConfigEntryError(Exception):
    """An entry Consul would refuse; ``status`` and ``text`` as Consul answers."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text

    def http(self) -> errors.ConsulHTTPError:
        return errors.ConsulHTTPError(self.status, self.text)


def check_kind(kind: str) -> KindSpec:
    """The kind's spec; 400 ``invalid config entry kind`` or 501 for a kind not modelled."""
    spec = KINDS.get(kind)
    if spec is not None:
        return spec
    if kind in UNMODELLED_KINDS:
        raise ConfigEntryError(
            501, f"the Consul emulator does not implement config entries of kind {kind}"
        )
    raise ConfigEntryError(400, f"invalid config entry kind: {kind}")


def decode(raw: Any) -> dict[str, Any]:
    """``DecodeConfigEntry`` then ``Normalize`` and ``Validate``: the entry as stored."""
    if not isinstance(raw, dict):
        raise ConfigEntryError(400, "Request decoding failed: body must be a JSON object")
    kind = raw.get("Kind", raw.get("kind"))
    if kind is None:
        raise ConfigEntryError(
            400,
            "Request decoding failed: Payload does not contain a kind/Kind key at the top level",
        )
    if not isinstance(kind, str):
        raise ConfigEntryError(
            400, "Request decoding failed: Kind value in payload is not a string"
        )
    try:
        spec = check_kind(kind)
    except ConfigEntryError as exc:
        if exc.status == 400:
            raise ConfigEntryError(400, f"Request decoding failed: {exc.text}") from None
        raise
    by_key = {_squash(name): name for name in spec.fields}
    entry: dict[str, Any] = {}
    unused: list[str] = []
    for key, value in raw.items():
        name = by_key.get(_squash(str(key)))
        if name is None:
            unused.append(str(key))
        else:
            entry[name] = _field_value(name, value)
    if unused:
        problems = [f"invalid config key {errors.go_quote(key)}" for key in sorted(unused)]
        raise ConfigEntryError(400, f"Request decoding failed: {multierror(problems)}")
    entry["Kind"] = kind
    entry["Name"] = str(entry.get("Name") or "")
    _NORMALIZE.get(kind, _noop)(entry)
    problems = _VALIDATE.get(kind, _noop_validate)(entry)
    if not entry["Name"] and kind != MESH:
        problems.insert(0, "Name is required")
    if problems:
        raise ConfigEntryError(500, problems[0] if len(problems) == 1 else multierror(problems))
    return entry


def filter_schema(kind: str) -> dict[str, Any]:
    """Selectors ``?filter=`` accepts on a list of ``kind`` entries: its top-level fields
    (``Meta.<key>`` and ``Config.<key>`` too) and the Raft indexes."""
    return {
        name: MAP if name in _OPAQUE_MAPS else SCALAR
        for name in (*KINDS[kind].fields, "CreateIndex", "ModifyIndex")
    }


def render(entry: dict[str, Any], create_index: int, modify_index: int) -> dict[str, Any]:
    """The stored entry as Consul answers it: fields in order, empty ``omitempty`` ones out."""
    spec = KINDS[entry["Kind"]]
    out: dict[str, Any] = {}
    for name in spec.fields:
        if name in ("Namespace", "Partition"):
            continue  # enterprise-only, never written by Consul CE
        value = entry.get(name)
        if name in spec.always:
            out[name] = spec.always[name] if value in (None, "") else value
        elif value not in (None, "", [], {}, 0, False):
            out[name] = value
    return out | {"CreateIndex": create_index, "ModifyIndex": modify_index}


# -- normalization ---------------------------------------------------------------------------------
def _noop(entry: dict[str, Any]) -> None:
    return None


def _noop_validate(entry: dict[str, Any]) -> list[str]:
    return []


def _normalize_service_defaults(entry: dict[str, Any]) -> None:
    entry["Protocol"] = str(entry.get("Protocol") or "").lower()


def _normalize_proxy_defaults(entry: dict[str, Any]) -> None:
    if entry["Name"] not in ("", PROXY_CONFIG_GLOBAL):
        raise ConfigEntryError(
            500,
            f"invalid name ({errors.go_quote(entry['Name'])}), only "
            f"{errors.go_quote(PROXY_CONFIG_GLOBAL)} is supported",
        )
    entry["Name"] = PROXY_CONFIG_GLOBAL
    config = entry.get("Config")
    if isinstance(config, dict) and "protocol" in config:
        config["protocol"] = str(config["protocol"]).lower()


def _normalize_mesh(entry: dict[str, Any]) -> None:
    entry["Name"] = MESH


def _normalize_resolver(entry: dict[str, Any]) -> None:
    for name in KINDS[SERVICE_RESOLVER].durations:
        value = entry.get(name)
        if value in (None, "", 0):
            entry.pop(name, None)
            continue
        try:
            seconds = value / 1e9 if isinstance(value, (int, float)) else parse_duration(value)
        except ValueError as exc:
            raise ConfigEntryError(
                400, f"Request decoding failed: error decoding '{name}': {exc}"
            ) from exc
        entry[name] = format_duration(seconds)


def _normalize_ingress(entry: dict[str, Any]) -> None:
    for listener in entry.get("Listeners") or []:
        if isinstance(listener, dict):
            listener["Protocol"] = str(listener.get("Protocol") or DEFAULT_PROTOCOL).lower()
            listener.setdefault("Services", None)
            for service in listener.get("Services") or []:
                if isinstance(service, dict):
                    service.setdefault("Hosts", None)  # IngressService.Hosts has no omitempty


def _normalize_intentions(entry: dict[str, Any]) -> None:
    for source in entry.get("Sources") or []:
        if isinstance(source, dict):
            source.setdefault("Type", "consul")
            source["Precedence"] = intention_precedence(
                str(source.get("Name") or ""), entry["Name"]
            )


def intention_precedence(source: str, destination: str) -> int:
    """``Intention.UpdatePrecedence`` for Consul CE (every namespace exact): exact names rank
    above wildcards, the destination weighs more than the source."""
    if destination == "*":
        return 6 if source != "*" else 5
    return 9 if source != "*" else 8


_NORMALIZE = {
    SERVICE_DEFAULTS: _normalize_service_defaults,
    PROXY_DEFAULTS: _normalize_proxy_defaults,
    SERVICE_RESOLVER: _normalize_resolver,
    INGRESS_GATEWAY: _normalize_ingress,
    SERVICE_INTENTIONS: _normalize_intentions,
    MESH: _normalize_mesh,
}


# -- validation ------------------------------------------------------------------------------------
def _validate_service_defaults(entry: dict[str, Any]) -> list[str]:
    if entry["Name"] == "*":
        return ["service-defaults name must be the name of a service, and not a wildcard"]
    balance = entry.get("BalanceInboundConnections") or ""
    if balance not in ("", "exact_balance"):
        return [f"invalid value for balance_inbound_connections: {balance}"]
    return []


def _validate_splitter(entry: dict[str, Any]) -> list[str]:
    splits = entry.get("Splits") or []
    if not splits:
        return ["no splits configured"]
    total = sum(float(split.get("Weight") or 0) for split in splits if isinstance(split, dict))
    if round(total, 2) != 100:
        return [f"the sum of all split weights must be 100, not {total:.2f}"]
    return []


def _validate_ingress(entry: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    ports: set[int] = set()
    for listener in entry.get("Listeners") or []:
        port = int(listener.get("Port") or 0)
        if port in ports:
            problems.append(f"port {port} declared on two listeners")
        ports.add(port)
        protocol = listener["Protocol"]
        if protocol not in INGRESS_PROTOCOLS:
            problems.append(
                f"protocol must be 'tcp', 'http', 'http2', or 'grpc'. '{protocol}' is an "
                "unsupported protocol"
            )
            continue
        services = listener.get("Services") or []
        if protocol == "tcp" and len(services) > 1:
            problems.append(
                "multiple services per listener are only supported for L7 protocols, 'http', "
                "'grpc' and 'http2'"
            )
        for service in services:
            if not service.get("Name"):
                problems.append("Name is required")
            elif service["Name"] == "*" and protocol == "tcp":
                problems.append(
                    "Wildcard service name is only valid for L7 protocols, 'http', 'grpc' and "
                    "'http2'"
                )
    return problems


def _validate_terminating(entry: dict[str, Any]) -> list[str]:
    seen: set[str] = set()
    problems: list[str] = []
    for service in entry.get("Services") or []:
        name = str(service.get("Name") or "")
        if not name:
            problems.append("Service name cannot be blank.")
        elif name in seen:
            problems.append(f"Service {errors.go_quote(name)} was specified more than once")
        seen.add(name)
    return problems


def _validate_intentions(entry: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for position, source in enumerate(entry.get("Sources") or []):
        if not source.get("Name"):
            problems.append(f"Sources[{position}].Name is required")
        permissions = source.get("Permissions") or []
        action = source.get("Action") or ""
        if permissions and action:
            problems.append(f"Sources[{position}].Action must be omitted if Permissions are set")
        elif not permissions and action not in ("allow", "deny"):
            problems.append(f"Sources[{position}].Action must be set to 'allow' or 'deny'")
    return problems


def _validate_proxy_defaults(entry: dict[str, Any]) -> list[str]:
    return []


_VALIDATE = {
    SERVICE_DEFAULTS: _validate_service_defaults,
    PROXY_DEFAULTS: _validate_proxy_defaults,
    SERVICE_SPLITTER: _validate_splitter,
    INGRESS_GATEWAY: _validate_ingress,
    TERMINATING_GATEWAY: _validate_terminating,
    SERVICE_INTENTIONS: _validate_intentions,
}


@dataclass
class StoredEntry:
    entry: dict[str, Any]
    create_index: int
    modify_index: int

    def to_api(self) -> dict[str, Any]:
        return render(self.entry, self.create_index, self.modify_index)


@dataclass
class ConfigEntryStore:
    """One datacenter's config entries, by ``(kind, name)``."""

    entries: dict[tuple[str, str], StoredEntry] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> StoredEntry | None:
        return self.entries.get((kind, name))

    def of_kind(self, kind: str) -> list[StoredEntry]:
        return [stored for (k, _), stored in sorted(self.entries.items()) if k == kind]

    def upsert(self, entry: dict[str, Any], index: int, cas: int | None) -> bool:
        """Write ``entry`` at ``index``; with ``cas``, only if the stored ``ModifyIndex`` is
        ``cas`` (0: only if there is none). False when the check-and-set does not apply."""
        key = (entry["Kind"], entry["Name"])
        previous = self.entries.get(key)
        if cas is not None:
            current = previous.modify_index if previous else 0
            if current != cas:
                return False
        self.entries[key] = StoredEntry(entry, previous.create_index if previous else index, index)
        return True

    def delete(self, kind: str, name: str, cas: int | None) -> bool:
        """Delete; with ``cas``, only if the stored ``ModifyIndex`` is ``cas``."""
        previous = self.entries.get((kind, name))
        if cas is not None and (previous is None or previous.modify_index != cas):
            return False
        self.entries.pop((kind, name), None)
        return True

    def service_protocol(self, service: str) -> str:
        """The protocol a service's chain uses: its service-defaults', else proxy-defaults'
        ``Config.protocol``, else ``tcp`` (``discoverychain`` compiler's rule)."""
        defaults = self.get(SERVICE_DEFAULTS, service)
        if defaults is not None and defaults.entry.get("Protocol"):
            return defaults.entry["Protocol"]
        proxy = self.get(PROXY_DEFAULTS, PROXY_CONFIG_GLOBAL)
        config = (proxy.entry.get("Config") or {}) if proxy else {}
        return str(config.get("protocol") or DEFAULT_PROTOCOL)
