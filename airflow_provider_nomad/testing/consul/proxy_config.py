"""The service-mesh parts of a service registration: ``Kind``, ``Proxy``, ``Connect``, ``Locality``.

Decoded the way Consul's agent decodes a ``ServiceDefinition`` (keys matched ignoring case and
underscores, so ``sidecar_service`` and ``SidecarService`` are one field) and rendered with the
JSON fields of ``structs.ConnectProxyConfig`` / ``structs.Upstream`` / ``structs.ServiceConnect``
(``agent/structs/connect_proxy_config.go``, ``agent/structs/structs.go``). Validation follows
``NodeService.ValidateForAgent``; its errors come back in go-multierror's format, as Consul's
``Validation failed: ...`` answer carries them.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_nomad.testing.consul import errors

CONNECT_PROXY = "connect-proxy"
MESH_GATEWAY = "mesh-gateway"
TERMINATING_GATEWAY = "terminating-gateway"
INGRESS_GATEWAY = "ingress-gateway"
API_GATEWAY = "api-gateway"
GATEWAY_KINDS = (MESH_GATEWAY, TERMINATING_GATEWAY, INGRESS_GATEWAY, API_GATEWAY)
SERVICE_KINDS = ("", CONNECT_PROXY, *GATEWAY_KINDS)
PROXY_MODES = ("", "direct", "transparent")
MESH_GATEWAY_MODES = ("", "none", "local", "remote")
DEFAULT_LOCAL_ADDRESS = "127.0.0.1"
WILDCARD = "*"


def _fields(raw: Any, what: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise errors.ConsulHTTPError(400, f"Request decode failed: {what} must be an object")
    return {str(key).lower().replace("_", ""): value for key, value in raw.items()}


def _int(value: Any, what: str) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError) as exc:
        raise errors.ConsulHTTPError(400, f"Request decode failed: {what}: {exc}") from exc


def _mesh_gateway(raw: Any) -> dict[str, Any]:
    mode = str(_fields(raw, "MeshGateway").get("mode") or "")
    if mode not in MESH_GATEWAY_MODES:
        raise errors.ConsulHTTPError(
            400, f"Request decode failed: invalid mesh gateway mode: {errors.go_quote(mode)}"
        )
    return {"Mode": mode} if mode else {}


def _expose(raw: Any) -> dict[str, Any]:
    fields = _fields(raw, "Expose")
    out: dict[str, Any] = {}
    if fields.get("checks"):
        out["Checks"] = True
    paths = []
    for item in fields.get("paths") or []:
        path = _fields(item, "Expose.Paths")
        paths.append(
            {
                key: value
                for key, value in (
                    ("ListenerPort", _int(path.get("listenerport"), "ListenerPort")),
                    ("Path", str(path.get("path") or "")),
                    ("LocalPathPort", _int(path.get("localpathport"), "LocalPathPort")),
                    ("Protocol", str(path.get("protocol") or "")),
                )
                if value
            }
        )
    if paths:
        out["Paths"] = paths
    return out


def parse_upstream(raw: Any) -> dict[str, Any]:
    """One ``Proxy.Upstreams`` entry as ``structs.Upstream`` renders it."""
    fields = _fields(raw, "Upstream")
    out: dict[str, Any] = {}
    destination_type = str(fields.get("destinationtype") or "")
    if destination_type and destination_type not in ("service", "prepared_query"):
        raise errors.ConsulHTTPError(
            400,
            f"Request decode failed: unknown upstream destination type: {destination_type}",
        )
    for key, name in (
        ("destinationtype", "DestinationType"),
        ("destinationnamespace", "DestinationNamespace"),
        ("destinationpartition", "DestinationPartition"),
        ("destinationpeer", "DestinationPeer"),
    ):
        if fields.get(key):
            out[name] = str(fields[key])
    out["DestinationName"] = str(fields.get("destinationname") or "")
    for key, name in (
        ("datacenter", "Datacenter"),
        ("localbindaddress", "LocalBindAddress"),
    ):
        if fields.get(key):
            out[name] = str(fields[key])
    port = _int(fields.get("localbindport"), "LocalBindPort")
    if port:
        out["LocalBindPort"] = port
    if fields.get("config"):
        out["Config"] = dict(fields["config"])
    out["MeshGateway"] = _mesh_gateway(fields.get("meshgateway"))
    return out


def parse_proxy(raw: Any) -> dict[str, Any]:
    """``Proxy`` of a registration, as ``ConnectProxyConfig`` renders it (empty fields omitted;
    ``Mode``, ``MeshGateway`` and ``Expose`` always there)."""
    fields = _fields(raw, "Proxy")
    out: dict[str, Any] = {}
    for key, name in (
        ("destinationservicename", "DestinationServiceName"),
        ("destinationserviceid", "DestinationServiceID"),
        ("localserviceaddress", "LocalServiceAddress"),
    ):
        if fields.get(key):
            out[name] = str(fields[key])
    port = _int(fields.get("localserviceport"), "LocalServicePort")
    if port:
        out["LocalServicePort"] = port
    mode = str(fields.get("mode") or "")
    if mode not in PROXY_MODES:
        raise errors.ConsulHTTPError(
            400, f"Request decode failed: invalid proxy mode: {errors.go_quote(mode)}"
        )
    out["Mode"] = mode
    if fields.get("config"):
        out["Config"] = dict(fields["config"])
    upstreams = [parse_upstream(item) for item in fields.get("upstreams") or []]
    if upstreams:
        out["Upstreams"] = upstreams
    out["MeshGateway"] = _mesh_gateway(fields.get("meshgateway"))
    out["Expose"] = _expose(fields.get("expose"))
    transparent = _fields(fields.get("transparentproxy"), "TransparentProxy")
    if transparent:
        out["TransparentProxy"] = {
            key: value
            for key, value in (
                ("OutboundListenerPort", _int(transparent.get("outboundlistenerport"), "Port")),
                ("DialedDirectly", bool(transparent.get("dialeddirectly"))),
            )
            if value
        }
    return out


#: ``ConnectProxyConfig``'s fields in the order Consul writes them.
PROXY_FIELDS = (
    "DestinationServiceName",
    "DestinationServiceID",
    "LocalServiceAddress",
    "LocalServicePort",
    "Mode",
    "Config",
    "Upstreams",
    "MeshGateway",
    "Expose",
    "TransparentProxy",
)


def ordered_proxy(proxy: dict[str, Any]) -> dict[str, Any]:
    """``proxy`` with its fields in Consul's order (however they were filled in)."""
    return {name: proxy[name] for name in PROXY_FIELDS if name in proxy}


def empty_proxy() -> dict[str, Any]:
    return {"Mode": "", "MeshGateway": {}, "Expose": {}}


def parse_connect(raw: Any) -> tuple[bool, dict[str, Any] | None]:
    """``Connect``: whether the service is Connect-native, and its ``SidecarService`` body
    (``None`` without one; an empty object asks for a sidecar with every default)."""
    fields = _fields(raw, "Connect")
    sidecar = fields.get("sidecarservice")
    if sidecar is not None and not isinstance(sidecar, dict):
        raise errors.ConsulHTTPError(
            400, "Request decode failed: Connect.SidecarService must be an object"
        )
    return bool(fields.get("native")), sidecar


def parse_locality(raw: Any) -> dict[str, str] | None:
    """``Locality`` (``{"Region", "Zone"}``, each omitted when empty); ``None`` when absent."""
    if raw is None:
        return None
    fields = _fields(raw, "Locality")
    return {
        name: str(fields[key])
        for key, name in (("region", "Region"), ("zone", "Zone"))
        if fields.get(key)
    }


def multierror(problems: list[str]) -> str:
    """go-multierror's text for a list of errors."""
    noun = "error" if len(problems) == 1 else "errors"
    items = "\n\t".join(f"* {problem}" for problem in problems)
    return f"{len(problems)} {noun} occurred:\n\t{items}\n\n"


def validate_kind(kind: str, proxy: dict[str, Any], native: bool, port: int) -> None:
    """``NodeService.ValidateForAgent`` for the mesh fields; 400 ``Validation failed: ...``."""
    if kind not in SERVICE_KINDS:
        raise errors.ConsulHTTPError(
            400, f"Request decode failed: invalid service kind: {errors.go_quote(kind)}"
        )
    problems: list[str] = []
    if kind == CONNECT_PROXY:
        destination = proxy.get("DestinationServiceName", "")
        if not destination.strip():
            problems.append(
                "Proxy.DestinationServiceName must be non-empty for Connect proxy services"
            )
        if destination == WILDCARD:
            problems.append(
                "Proxy.DestinationServiceName must not be a wildcard for Connect proxy services"
            )
        if native:
            problems.append("A Proxy cannot also be Connect Native, only typical services")
        seen: set[tuple[str, str, str]] = set()
        for upstream in proxy.get("Upstreams", []):
            if not upstream["DestinationName"]:
                problems.append("upstream destination name cannot be empty")
                continue
            key = (
                upstream.get("DestinationType", "service") or "service",
                upstream["DestinationName"],
                upstream.get("Datacenter", ""),
            )
            if key in seen:
                problems.append(f"upstreams cannot contain duplicates of {key[1]}")
            seen.add(key)
    elif kind in GATEWAY_KINDS:
        if native:
            problems.append(f"A {kind} cannot have Connect.Native set")
        if kind == MESH_GATEWAY and port == 0:
            problems.append("Port must be non-zero for a Mesh Gateway")
    if problems:
        raise errors.ConsulHTTPError(400, f"Validation failed: {multierror(problems)}")
