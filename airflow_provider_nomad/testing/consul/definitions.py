"""Request bodies of the agent and catalog registration endpoints, parsed and validated.

Consul decodes these bodies with Go's ``encoding/json`` (field names match case-insensitively)
plus snake_case aliases (``check_id``, ``tls_skip_verify``, ``args``...): keys are matched here
ignoring case and underscores. Validation errors carry Consul's texts and statuses.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.durations import parse_duration
from airflow_provider_nomad.testing.consul.proxy_config import (
    parse_connect,
    parse_locality,
    parse_proxy,
    validate_kind,
)

PASSING = "passing"
WARNING = "warning"
CRITICAL = "critical"
VALID_STATUSES = (PASSING, WARNING, CRITICAL)

_ALIASES = {"args": "scriptargs", "id": "checkid"}


def _normalized(body: dict[str, Any], *, check: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in body.items():
        norm = str(key).lower().replace("_", "")
        if check:
            norm = _ALIASES.get(norm, norm)
        out[norm] = value
    return out


def _duration(value: Any, what: str) -> float:
    """Go durations arrive as strings ("10s") or as integer nanoseconds."""
    if value in (None, ""):
        return 0.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1e9
    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise errors.ConsulHTTPError(400, f"Request decode failed: {what}: {exc}") from exc


@dataclass
class CheckSpec:
    """A check as registered (``CheckType`` / ``CheckDefinition`` in Consul)."""

    check_id: str = ""
    name: str = ""
    status: str = ""
    notes: str = ""
    service_id: str = ""
    ttl: float = 0.0
    interval: float = 0.0
    timeout: float = 0.0
    http: str = ""
    method: str = ""
    header: dict[str, list[str]] = field(default_factory=dict)
    tcp: str = ""
    udp: str = ""
    grpc: str = ""
    h2ping: str = ""
    os_service: str = ""
    script_args: list[str] = field(default_factory=list)
    alias_node: str = ""
    alias_service: str = ""
    tls_skip_verify: bool = False

    @property
    def is_script(self) -> bool:
        return bool(self.script_args)

    @property
    def is_alias(self) -> bool:
        return bool(self.alias_node or self.alias_service)

    @property
    def type(self) -> str:
        """Consul's ``CheckType.Type()`` names."""
        if self.ttl > 0:
            return "ttl"
        for kind in ("http", "tcp", "udp", "grpc", "h2ping"):
            if getattr(self, kind):
                return kind
        if self.os_service:
            return "os_service"
        if self.is_alias:
            return "alias"
        if self.is_script:
            return "script"
        return ""

    def validate(self) -> None:
        """``CheckType.Validate`` (structs/check_type.go); the caller adds "Invalid check: "."""
        interval_check = bool(
            self.is_script
            or self.http
            or self.tcp
            or self.udp
            or self.grpc
            or self.h2ping
            or self.os_service
        )
        if self.interval > 0 and self.ttl > 0:
            raise ValueError("Interval and TTL cannot both be specified")
        if interval_check and self.interval <= 0:
            raise ValueError(
                "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"
            )
        if interval_check and self.is_alias:
            raise ValueError("Interval cannot be set for Alias checks")
        if self.is_alias and self.ttl > 0:
            raise ValueError("TTL must be not be set for Alias checks")
        if not interval_check and not self.is_alias and self.ttl <= 0:
            raise ValueError("TTL must be > 0 for TTL checks")

    def is_empty(self) -> bool:
        return self == CheckSpec()


def parse_check(body: Any) -> CheckSpec:
    if not isinstance(body, dict):
        raise errors.ConsulHTTPError(400, "Request decode failed: check must be an object")
    raw = _normalized(body, check=True)
    script = raw.get("script")
    script_args = list(raw.get("scriptargs") or ([] if not script else ["sh", "-c", script]))
    header = raw.get("header") or {}
    return CheckSpec(
        check_id=str(raw.get("checkid") or ""),
        name=str(raw.get("name") or ""),
        status=str(raw.get("status") or ""),
        notes=str(raw.get("notes") or ""),
        service_id=str(raw.get("serviceid") or ""),
        ttl=_duration(raw.get("ttl"), "TTL"),
        interval=_duration(raw.get("interval"), "Interval"),
        timeout=_duration(raw.get("timeout"), "Timeout"),
        http=str(raw.get("http") or ""),
        method=str(raw.get("method") or ""),
        header={str(k): [str(v) for v in vs] for k, vs in dict(header).items()},
        tcp=str(raw.get("tcp") or ""),
        udp=str(raw.get("udp") or ""),
        grpc=str(raw.get("grpc") or ""),
        h2ping=str(raw.get("h2ping") or ""),
        os_service=str(raw.get("osservice") or ""),
        script_args=[str(arg) for arg in script_args],
        alias_node=str(raw.get("aliasnode") or ""),
        alias_service=str(raw.get("aliasservice") or ""),
        tls_skip_verify=bool(raw.get("tlsskipverify") or False),
    )


@dataclass
class ServiceSpec:
    """A service instance as registered (``ServiceDefinition`` / ``NodeService``)."""

    id: str
    name: str
    tags: list[str] = field(default_factory=list)
    address: str = ""
    port: int = 0
    meta: dict[str, str] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=lambda: {"Passing": 1, "Warning": 1})
    enable_tag_override: bool = False
    tagged_addresses: dict[str, Any] = field(default_factory=dict)
    kind: str = ""
    checks: list[CheckSpec] = field(default_factory=list)
    #: ``Proxy`` as Consul renders it (:func:`.proxy_config.parse_proxy`).
    proxy: dict[str, Any] = field(default_factory=dict)
    connect_native: bool = False
    #: ``Connect.SidecarService``: the body of a sidecar the agent registers alongside.
    sidecar: dict[str, Any] | None = None
    locality: dict[str, str] | None = None
    #: The parent's ID, on a sidecar the agent registers from ``Connect.SidecarService``.
    sidecar_of: str = ""


def _is_any_address(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def parse_service(body: Any, *, name_key: str = "name") -> ServiceSpec:
    """Parse and validate ``PUT /v1/agent/service/register`` the way Consul's handler does.

    :param body: the decoded JSON body.
    :param name_key: where the name is: ``Name`` (``ServiceDefinition``, agent endpoint) or
        ``Service`` (``NodeService``, catalog endpoint).
    """
    if not isinstance(body, dict):
        raise errors.ConsulHTTPError(400, "Request decode failed: body must be a JSON object")
    raw = _normalized(body)
    name = str(raw.get(name_key) or "")
    if not name:
        raise errors.ConsulHTTPError(400, errors.MISSING_SERVICE_NAME)
    address = str(raw.get("address") or "")
    if _is_any_address(address):
        raise errors.ConsulHTTPError(400, errors.INVALID_SERVICE_ADDRESS)
    try:
        port = int(raw.get("port") or 0)
    except (TypeError, ValueError) as exc:
        raise errors.ConsulHTTPError(400, f"Request decode failed: Port: {exc}") from exc
    weights = raw.get("weights") or {"Passing": 1, "Warning": 1}
    checks: list[CheckSpec] = []
    single = raw.get("check")
    if single:
        spec = parse_check(single)
        if not spec.is_empty():
            checks.append(spec)
    checks.extend(parse_check(item) for item in raw.get("checks") or [])
    for spec in checks:
        try:
            spec.validate()
        except ValueError as exc:
            raise errors.ConsulHTTPError(400, f"Invalid check: {exc}") from exc
        if spec.status and spec.status not in VALID_STATUSES:
            raise errors.ConsulHTTPError(400, errors.INVALID_CHECK_STATUS_IN_SERVICE)
    kind = str(raw.get("kind") or "")
    proxy = parse_proxy(raw.get("proxy"))
    native, sidecar = parse_connect(raw.get("connect"))
    validate_kind(kind, proxy, native, port)
    return ServiceSpec(
        id=str(raw.get("id") or name),
        name=name,
        tags=[str(tag) for tag in raw.get("tags") or []],
        address=address,
        port=port,
        meta={str(k): str(v) for k, v in dict(raw.get("meta") or {}).items()},
        weights={key: int(weights.get(key, 1)) for key in ("Passing", "Warning")},
        enable_tag_override=bool(raw.get("enabletagoverride") or False),
        tagged_addresses=service_addresses(raw.get("taggedaddresses")),
        kind=kind,
        checks=checks,
        proxy=proxy,
        connect_native=native,
        sidecar=sidecar,
        locality=parse_locality(raw.get("locality")),
    )


def service_addresses(raw: Any) -> dict[str, dict[str, Any]]:
    """A service's ``TaggedAddresses`` as ``map[string]ServiceAddress``: each value decoded
    into ``{"Address", "Port"}`` (keys matched case-insensitively, as Go decodes them)."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in dict(raw or {}).items():
        fields = {str(k).lower(): v for k, v in value.items()} if isinstance(value, dict) else {}
        try:
            port = int(fields.get("port") or 0)
        except (TypeError, ValueError) as exc:
            raise errors.ConsulHTTPError(
                400, f"Request decode failed: TaggedAddresses: {exc}"
            ) from exc
        out[str(name)] = {"Address": str(fields.get("address") or ""), "Port": port}
    return out


def default_service_addresses(spec: ServiceSpec) -> None:
    """``addServiceInternal``: an IP service address also becomes its lan/wan tagged address
    for the IP family, unless given; a given ``lan_ipv4``... must be of its family."""
    try:
        ip = ipaddress.ip_address(spec.address)
    except ValueError:
        ip = None
    family = "ipv4" if ip is not None and ip.version == 4 else "ipv6"
    for name in ("lan_ipv4", "wan_ipv4", "lan_ipv6", "wan_ipv6"):
        given = spec.tagged_addresses.get(name)
        if given is not None:
            try:
                version = ipaddress.ip_address(given["Address"]).version
            except ValueError:
                version = 0
            if version != (4 if name.endswith("ipv4") else 6):
                kind = name.rsplit("_", 1)[1]
                raise errors.ConsulHTTPError(
                    500, f'Service tagged address "{name}" must be a valid {kind} address'
                )
        elif ip is not None and name.endswith(family):
            spec.tagged_addresses[name] = {"Address": spec.address, "Port": spec.port}


def parse_check_registration(body: Any) -> CheckSpec:
    """Parse and validate ``PUT /v1/agent/check/register``."""
    spec = parse_check(body)
    if not spec.name:
        raise errors.ConsulHTTPError(400, errors.MISSING_CHECK_NAME)
    if spec.status and spec.status not in VALID_STATUSES:
        raise errors.ConsulHTTPError(400, "Bad check status")
    try:
        spec.validate()
    except ValueError as exc:
        raise errors.ConsulHTTPError(400, f"Invalid check: {exc}") from exc
    if not spec.check_id:
        spec.check_id = spec.name
    return spec


@dataclass
class CatalogRegistration:
    """``PUT /v1/catalog/register``: a node, optionally a service and checks, in a datacenter."""

    datacenter: str
    node: str
    address: str
    node_id: str = ""
    node_meta: dict[str, str] = field(default_factory=dict)
    tagged_addresses: dict[str, str] = field(default_factory=dict)
    service: ServiceSpec | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)


def parse_catalog_registration(body: Any) -> CatalogRegistration:
    if not isinstance(body, dict):
        raise errors.ConsulHTTPError(400, "Request decode failed: body must be a JSON object")
    raw = _normalized(body)
    node = str(raw.get("node") or "")
    address = str(raw.get("address") or "")
    if not node:
        raise errors.ConsulHTTPError(500, "Must provide node")
    if not address:
        raise errors.ConsulHTTPError(500, "Must provide address")
    service = None
    if raw.get("service"):
        service = parse_service(raw["service"], name_key="service")
    checks: list[dict[str, Any]] = []
    if raw.get("check"):
        checks.append(_normalized(raw["check"], check=True))
    checks.extend(_normalized(item, check=True) for item in raw.get("checks") or [])
    for check in checks:
        status = check.get("status") or CRITICAL
        if status not in VALID_STATUSES:
            raise errors.ConsulHTTPError(500, f"Invalid check status: {status!r}")
    return CatalogRegistration(
        datacenter=str(raw.get("datacenter") or ""),
        node=node,
        address=address,
        node_id=str(raw.get("id") or ""),
        node_meta={str(k): str(v) for k, v in dict(raw.get("nodemeta") or {}).items()},
        tagged_addresses={
            str(k): str(v) for k, v in dict(raw.get("taggedaddresses") or {}).items()
        },
        service=service,
        checks=checks,
    )
