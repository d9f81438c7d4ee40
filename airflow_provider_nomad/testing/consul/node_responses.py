"""``/v1/agent/self``, ``/v1/catalog/nodes`` and ``/v1/catalog/node/:node``, after
``agent/agent_endpoint.go`` and ``agent/catalog_endpoint.go``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl import READ, Authorizer
from airflow_provider_nomad.testing.consul.records import NODE_SCHEMA, SERVICE_SCHEMA
from airflow_provider_nomad.testing.consul.responses import (
    _backend,
    _compile,
    _json,
    _read,
    _read_headers,
    query_options,
    request_token,
)

#: The Consul version the emulator answers as.
CONSUL_VERSION = "1.22.0"


def _member(backend) -> dict[str, Any]:
    """The agent's serf LAN member (``agent/members``, ``agent/self``)."""
    node = backend.local_node
    return {
        "Name": node.name,
        "Addr": node.address,
        "Port": 8301,
        "Tags": {
            "build": f"{CONSUL_VERSION}:emulator",
            "dc": backend.local_datacenter,
            "id": node.id,
            "port": "8300",
            "role": "consul",
            "vsn": "2",
            "vsn_max": "3",
            "vsn_min": "2",
        },
        "Status": 1,  # serf StatusAlive
        "ProtocolMin": 1,
        "ProtocolMax": 5,
        "ProtocolCur": 2,
        "DelegateMin": 2,
        "DelegateMax": 5,
        "DelegateCur": 4,
    }


async def agent_members(request: Request) -> Response:
    """The LAN members the token may read (one: this agent); ``?wan`` lists the servers'."""
    backend = _backend(request)
    authz = backend.acl.resolve(request_token(request))
    member = _member(backend)
    if "wan" in request.query_params:
        member = dict(member, Name=f"{member['Name']}.{backend.local_datacenter}")
    members = [member] if authz.allowed("node", backend.node_name, READ) else []
    return _json(request, members)


async def agent_self(request: Request) -> Response:
    """The agent's configuration and membership (``agent:read`` on its node)."""
    backend = _backend(request)
    authz = backend.acl.resolve(request_token(request))
    authz.require("agent", backend.node_name, READ)
    node = backend.local_node
    config = {
        "Datacenter": backend.local_datacenter,
        "PrimaryDatacenter": backend.local_datacenter,
        "NodeName": node.name,
        "NodeID": node.id,
        "Partition": "",
        "Revision": "emulator",
        "Server": True,
        "Version": CONSUL_VERSION,
        "BuildDate": "2025-01-01T00:00:00Z",
    }
    member = _member(backend)
    body = {
        "Config": config,
        "DebugConfig": {"Datacenter": backend.local_datacenter, "NodeName": node.name},
        "Coord": {"Vec": [0.0] * 8, "Error": 1.5, "Adjustment": 0.0, "Height": 1e-05},
        "Member": member,
        "Stats": {
            "agent": {"check_monitors": "0", "check_ttls": "0", "checks": "0"},
            "consul": {
                "bootstrap": "true",
                "known_datacenters": str(len(backend.datacenters)),
                "leader": "true",
                "leader_addr": backend.leader_address(None),
                "server": "true",
            },
            "raft": {"state": "Leader", "num_peers": "0", "protocol_version": "3"},
        },
        "Meta": dict(node.meta, **{"consul-version": CONSUL_VERSION}),
        "xDS": None,
    }
    return _json(request, body)


def _node_meta_filters(request: Request) -> list[tuple[str, str]]:
    """``?node-meta=key:value`` pairs (all must match)."""
    pairs = []
    for item in request.query_params.getlist("node-meta"):
        key, _, value = item.partition(":")
        pairs.append((key, value))
    return pairs


async def catalog_nodes(request: Request) -> Response:
    meta = _node_meta_filters(request)

    def compute(backend, dc, authz: Authorizer):
        found = [
            node
            for node in sorted(dc.nodes.values(), key=lambda n: n.name)
            if all(node.meta.get(k) == v for k, v in meta)
        ]
        allowed = [n for n in found if authz.allowed("node", n.name, READ)]
        return dc.table_index["nodes"], [n.to_api() for n in allowed], len(allowed) != len(found)

    nodes, headers = await _read(request, compute, NODE_SCHEMA)
    return _json(request, nodes, headers)


async def catalog_node(request: Request) -> Response:
    """One node and its services; ``null`` when the node is not in the catalog."""
    name = request.path_params.get("node", "")
    options = query_options(request)
    if not name:
        raise errors.ConsulHTTPError(400, "Missing node name")
    # the filter is evaluated against each entry of "Services", not the whole answer
    service_filter = _compile(options.filter, SERVICE_SCHEMA) if options.filter else None

    def compute(backend, dc, authz: Authorizer):
        index = max(dc.table_index["nodes"], dc.table_index["services"])
        node = dc.nodes.get(name)
        if node is None or not authz.allowed("node", node.name, READ):
            return index, None, node is not None
        services: dict[str, Any] = {}
        for service in node.services.values():
            entry = service.to_api()
            if service_filter is not None and not service_filter.apply([entry]):
                continue
            if authz.allowed("service", service.name, READ):
                services[service.id] = entry
        return index, {"Node": node.to_api(), "Services": services}, False

    body, headers = await _read_unfiltered(request, compute)
    return _json(request, body, headers)


async def _read_unfiltered(request: Request, compute) -> tuple[Any, dict[str, str]]:
    """A blocking read whose ``?filter=`` the handler applied itself."""
    backend = _backend(request)
    options = query_options(request)
    dc = backend.datacenter(options.datacenter or None)
    authz = backend.acl.resolve(options.token)

    def run():
        index, result, filtered = compute(backend, dc, authz)
        return index, (result, filtered)

    index, (result, filtered) = await backend.feed.blocking_query(
        options.min_index, options.wait, run
    )
    return result, _read_headers(index, options, authz, filtered)
