"""Network coordinates (``/v1/coordinate/...``), after ``agent/coordinate_endpoint.go`` and
``agent/consul/coordinate_endpoint.go``.

Each datacenter's server starts with the coordinate serf gives a new member (the origin, error
1.5, minimum height); there is no gossip to move it, but ``PUT /v1/coordinate/update`` writes
one, as an agent's periodic update does. Updates for a node the catalog does not have are
dropped, as Consul's batch update drops them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl import READ, WRITE, Authorizer
from airflow_provider_nomad.testing.consul.responses import (
    _backend,
    _empty_ok,
    _json,
    _path_rest,
    _read,
    query_options,
    request_token,
)

DIMENSIONALITY = 8  # serf coordinate.DefaultConfig
WAN_AREA = "wan"  # types.AreaWAN


def initial_coordinate() -> dict[str, Any]:
    """``coordinate.NewCoordinate(DefaultConfig())``."""
    return {"Vec": [0.0] * DIMENSIONALITY, "Error": 1.5, "Adjustment": 0.0, "Height": 1.0e-5}


def _coordinate_of(dc, node: str) -> dict[str, Any]:
    return dc.coordinates.get(node) or initial_coordinate()


def _server_node(dc) -> str:
    """The datacenter's server: the first node it was created with."""
    return next(iter(dc.nodes))


async def coordinate_datacenters(request: Request) -> Response:
    """WAN coordinates of every datacenter's servers (no ACL: it names servers only)."""
    backend = _backend(request)
    with backend.lock:
        out = []
        for name in backend.datacenters:
            dc = backend.datacenter(name)
            server = _server_node(dc)
            out.append(
                {
                    "Datacenter": name,
                    "AreaID": WAN_AREA,
                    "Coordinates": [{"Node": server, "Coord": _coordinate_of(dc, server)}],
                }
            )
    return _json(request, out)


def _lan_entries(dc, authz: Authorizer, node: str | None) -> tuple[list[dict[str, Any]], bool]:
    entries, filtered = [], False
    for name in sorted(dc.nodes):
        if node is not None and name != node:
            continue
        if not authz.allowed("node", name, READ):
            filtered = True
            continue
        entries.append({"Node": name, "Segment": "", "Coord": _coordinate_of(dc, name)})
    return entries, filtered


async def coordinate_nodes(request: Request) -> Response:
    def compute(backend, dc, authz: Authorizer):
        entries, filtered = _lan_entries(dc, authz, None)
        return max(1, dc.coordinates_index), entries, filtered

    entries, headers = await _read(request, compute)
    return _json(request, entries, headers)


async def coordinate_node(request: Request) -> Response:
    node = _path_rest(request, "node")

    def compute(backend, dc, authz: Authorizer):
        entries, filtered = _lan_entries(dc, authz, node)
        return max(1, dc.coordinates_index), entries, filtered

    entries, headers = await _read(request, compute)
    if not entries:
        return Response(b"", status_code=404, headers=headers)
    return _json(request, entries, headers)


def _valid(coord: Any) -> bool:
    """serf's ``Coordinate.IsValid`` and ``IsCompatibleWith`` the agent's dimensionality."""
    if not isinstance(coord, dict):
        return False
    vec = coord.get("Vec")
    if not isinstance(vec, list) or len(vec) != DIMENSIONALITY:
        return False
    numbers = [*vec, coord.get("Error", 0), coord.get("Adjustment", 0), coord.get("Height", 0)]
    return all(
        isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n)
        for n in numbers
    )


async def coordinate_update(request: Request) -> Response:
    backend = _backend(request)
    options = query_options(request)
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except json.JSONDecodeError as exc:
        raise errors.ConsulHTTPError(400, f"Request decode failed: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise errors.ConsulHTTPError(400, "Request decode failed: EOF")
    fields = {str(k).lower(): v for k, v in body.items()}
    node = str(fields.get("node") or "")
    coord = fields.get("coord")
    if isinstance(coord, dict):
        coord = {str(k).capitalize() if k.lower() != "vec" else "Vec": v for k, v in coord.items()}
    if not _valid(coord):
        raise errors.ConsulHTTPError(500, "invalid coordinate")
    dc = backend.datacenter(options.datacenter or None)
    backend.acl.resolve(request_token(request)).require("node", node, WRITE)
    with backend.lock:
        if node in dc.nodes:  # the batch update skips nodes the catalog does not have
            dc.coordinates[node] = {
                "Vec": [float(v) for v in coord["Vec"]],
                "Error": float(coord.get("Error", 0)),
                "Adjustment": float(coord.get("Adjustment", 0)),
                "Height": float(coord.get("Height", 0)),
            }
            dc.coordinates_index = backend.next_index()
    backend.feed.notify()
    return _empty_ok()


ENDPOINTS = (
    ("/v1/coordinate/datacenters", ("GET",), coordinate_datacenters),
    ("/v1/coordinate/nodes", ("GET",), coordinate_nodes),
    ("/v1/coordinate/node/{node:path}", ("GET",), coordinate_node),
    ("/v1/coordinate/update", ("PUT",), coordinate_update),
)
