"""Operator endpoints: Raft configuration, Autopilot configuration and health, usage; after
``agent/operator_endpoint.go`` and ``agent/consul/operator_*_endpoint.go``.

The emulated datacenter is one server that leads its own single-voter Raft cluster, as
``consul agent -dev``: the Raft configuration lists it, Autopilot finds it healthy, and usage
counts what the catalog holds. Autopilot's configuration is the server's default until a
``PUT`` replaces it (a ``?cas=`` that no longer matches answers ``false`` and changes nothing).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl import READ, WRITE
from airflow_provider_nomad.testing.consul.durations import format_duration, parse_duration
from airflow_provider_nomad.testing.consul.models import SERVER_RPC_PORT, ConsulBackend
from airflow_provider_nomad.testing.consul.node_responses import CONSUL_VERSION
from airflow_provider_nomad.testing.consul.responses import (
    _backend,
    _json,
    _read_headers,
    query_options,
    request_token,
)

RAFT_PROTOCOL = "3"
_DURATIONS = ("LastContactThreshold", "ServerStabilizationTime")
#: agent/config default.go: the autopilot stanza
AUTOPILOT_DEFAULTS: dict[str, Any] = {
    "CleanupDeadServers": True,
    "LastContactThreshold": 0.2,
    "MaxTrailingLogs": 250,
    "MinQuorum": 0,
    "ServerStabilizationTime": 10.0,
    "RedundancyZoneTag": "",
    "DisableUpgradeMigration": False,
    "UpgradeVersionTag": "",
}
_CONNECT_KINDS = (
    "api-gateway",
    "connect-native",
    "connect-proxy",
    "ingress-gateway",
    "mesh-gateway",
    "terminating-gateway",
)


def _authorize(request: Request, access: str) -> ConsulBackend:
    backend = _backend(request)
    backend.acl.resolve(request_token(request)).require("operator", "", access)
    return backend


def _server(backend: ConsulBackend, dc) -> tuple[Any, str]:
    node = next(iter(dc.nodes.values()))  # the datacenter's server: its first node
    return node, f"{node.address}:{SERVER_RPC_PORT}"


async def raft_configuration(request: Request) -> Response:
    backend = _authorize(request, READ)
    options = query_options(request)
    with backend.lock:
        dc = backend.datacenter(options.datacenter or None)
        node, address = _server(backend, dc)
        server = {
            "ID": node.id,
            "Node": node.name,
            "Address": address,
            "Leader": True,
            "ProtocolVersion": RAFT_PROTOCOL,
            "Voter": True,
            "LastIndex": backend.index,
        }
    # Index is the Raft configuration's own index: a -dev server's never changes from 0.
    return _json(request, {"Servers": [server], "Index": 0})


def _autopilot(backend: ConsulBackend) -> dict[str, Any]:
    """The stored configuration (the caller holds the lock)."""
    config = backend.extra_state.get("autopilot")
    if config is None:
        index = backend.next_index()
        config = dict(AUTOPILOT_DEFAULTS, CreateIndex=index, ModifyIndex=index)
        backend.extra_state["autopilot"] = config
    return config


def _autopilot_api(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    for name in _DURATIONS:
        out[name] = format_duration(out[name]) if out[name] else "0s"
    return out


async def autopilot_configuration(request: Request) -> Response:
    if request.method == "PUT":
        return await _set_autopilot(request)
    backend = _authorize(request, READ)
    with backend.lock:
        return _json(request, _autopilot_api(_autopilot(backend)))


def _decoded_autopilot(raw: bytes) -> dict[str, Any]:
    """``api.AutopilotConfiguration`` decoded: a field left out is its zero value."""
    try:
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError("json: cannot unmarshal into api.AutopilotConfiguration")
        fields = {str(k).lower(): v for k, v in body.items()}
        out: dict[str, Any] = {}
        for name, default in AUTOPILOT_DEFAULTS.items():
            value = fields.get(name.lower())
            if name in _DURATIONS:
                out[name] = _duration(value)
            elif isinstance(default, bool):
                out[name] = bool(value) if value is not None else False
            elif isinstance(default, int):
                out[name] = int(value or 0)
            else:
                out[name] = str(value or "")
        return out
    except (ValueError, TypeError) as exc:
        raise errors.ConsulHTTPError(400, f"Error parsing autopilot config: {exc}") from exc


def _duration(value: Any) -> float:
    if value is None or value == "":
        return 0.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1e9  # a bare number is nanoseconds (FixupDurations)
    return parse_duration(str(value))


async def _set_autopilot(request: Request) -> Response:
    backend = _authorize(request, WRITE)
    config = _decoded_autopilot(await request.body())
    cas: int | None = None
    if "cas" in request.query_params:
        raw = request.query_params.get("cas", "")
        if not raw.isascii() or not raw.isdigit():
            raise errors.ConsulHTTPError(
                400,
                f"Error parsing cas value: strconv.ParseUint: parsing {errors.go_quote(raw)}: "
                "invalid syntax",
            )
        cas = int(raw)
    with backend.lock:
        current = _autopilot(backend)
        if cas is not None and current["ModifyIndex"] != cas:
            return _json(request, False)
        index = backend.next_index()
        backend.extra_state["autopilot"] = dict(
            config, CreateIndex=current["CreateIndex"], ModifyIndex=index
        )
    backend.feed.notify()
    return _json(request, True)


async def autopilot_health(request: Request) -> Response:
    backend = _authorize(request, READ)
    options = query_options(request)
    with backend.lock:
        dc = backend.datacenter(options.datacenter or None)
        node, address = _server(backend, dc)
        stable_since = dt.datetime.fromtimestamp(backend.started_at, dt.UTC)
        server = {
            "ID": node.id,
            "Name": node.name,
            "Address": address,
            "SerfStatus": "alive",
            "Version": CONSUL_VERSION,
            "Leader": True,
            "LastContact": "0s",
            "LastTerm": 2,
            "LastIndex": backend.index,
            "Healthy": True,
            "Voter": True,
            "StableSince": stable_since.isoformat().replace("+00:00", "Z"),
        }
    return _json(request, {"Healthy": True, "FailureTolerance": 0, "Servers": [server]})


def _usage_of(dc) -> dict[str, Any]:
    instances = [s for node in dc.nodes.values() for s in node.services.values()]
    connect = {kind: 0 for kind in _CONNECT_KINDS}
    for service in instances:
        if service.kind in connect:
            connect[service.kind] += 1
    billable = [s for s in instances if s.name != "consul" and not s.kind]
    return {
        "Services": len({s.name for s in instances}),
        "ServiceInstances": len(instances),
        "ConnectServiceInstances": connect,
        "BillableServiceInstances": len(billable),
        "Nodes": len(dc.nodes),
    }


async def operator_usage(request: Request) -> Response:
    backend = _backend(request)
    options = query_options(request)
    authz = backend.acl.resolve(options.token)
    authz.require("operator", "", READ)
    everywhere = "global" in request.query_params
    with backend.lock:
        names = backend.datacenters if everywhere else [backend.datacenter(None).name]
        if options.datacenter and not everywhere:
            names = [backend.datacenter(options.datacenter).name]
        usage = {name: _usage_of(backend.datacenter(name)) for name in names}
        index = max(1, backend.index)
    body = {
        "Usage": usage,
        "Index": index,
        "LastContact": 0,
        "KnownLeader": True,
        "ResultsFilteredByACLs": False,
    }
    return _json(request, body, _read_headers(index, options, authz, False))


ENDPOINTS = (
    ("/v1/operator/raft/configuration", ("GET",), raft_configuration),
    ("/v1/operator/autopilot/configuration", ("GET", "PUT"), autopilot_configuration),
    ("/v1/operator/autopilot/health", ("GET",), autopilot_health),
    ("/v1/operator/usage", ("GET",), operator_usage),
)
