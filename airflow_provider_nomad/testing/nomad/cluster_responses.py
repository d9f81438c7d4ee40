"""Cluster-level endpoints: nodes, agent members/servers/join, search, system GC, operator
Raft configuration, metrics and scaling policies, after their ``command/agent`` handlers.

The emulator is one agent that is server and client at once, so member lists and the Raft
configuration hold that one agent; joining another answers zero joined, as a dev agent does.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import Response

from . import errors, nodes
from .httputil import (
    PLAIN,
    QueryResult,
    blocking,
    decode_body,
    error_response,
    field_of,
    json_response,
    meta_headers,
)
from .records import NOMAD_VERSION
from .responses import GET, WRITE_METHODS, Ctx, method_not_allowed

SERVER_RPC_ADDR = "127.0.0.1:4647"


def _check_node_read(ctx: Ctx, token: str) -> None:
    ctx.backend.acl.authenticate(token)
    if not ctx.backend.acl.allows_node_read(token):
        raise errors.forbidden()


def _check_management(ctx: Ctx) -> None:
    ctx.backend.acl.authenticate(ctx.token)
    ctx.backend.acl.check_management(ctx.token)


# -- nodes ---------------------------------------------------------------------------------------


async def nodes_request(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    _check_node_read(ctx, opts.token)
    backend = ctx.backend
    resources = bool(ctx.query.bool("resources"))
    os_attributes = bool(ctx.query.bool("os"))

    def run() -> QueryResult:
        found = sorted(backend.state.nodes.values(), key=lambda n: n.id)
        body = [
            n.stub(resources=resources, os_attributes=os_attributes)
            for n in found
            if n.id.startswith(opts.prefix)
        ]
        return QueryResult(body, backend.state.table_index["nodes"], (("table", "nodes"),))

    result = await blocking(backend, opts, run)
    return json_response(result.body, result.index)


async def node_specific_request(ctx: Ctx, path: str) -> Response:
    for suffix, handler in (
        ("/evaluate", _node_evaluate),
        ("/allocations", _node_allocations),
        ("/drain", _node_drain),
        ("/eligibility", _node_eligibility),
    ):
        if path.endswith(suffix):
            return await handler(ctx, path[: -len(suffix)])
    if path.endswith("/purge"):
        from .responses import not_emulated

        return not_emulated(f"{ctx.method} /v1/node/:node_id/purge")
    return await _node_query(ctx, path)


async def _node_query(ctx: Ctx, node_id: str) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    _check_node_read(ctx, opts.token)
    backend = ctx.backend

    def run() -> QueryResult:
        node = nodes.find_node(backend, node_id)
        index = node.modify_index if node else backend.state.table_index["nodes"]
        return QueryResult(node.to_dict() if node else None, index, (("node", node_id),))

    result = await blocking(backend, opts, run)
    if result.body is None:
        return error_response(errors.not_found(errors.NODE_NOT_FOUND), meta_headers(result.index))
    return json_response(result.body, result.index)


async def _node_allocations(ctx: Ctx, node_id: str) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    _check_node_read(ctx, opts.token)
    backend = ctx.backend

    def run() -> QueryResult:
        found = sorted(
            (a for a in backend.state.allocs.values() if a.node_id == node_id), key=lambda a: a.id
        )
        allowed = [
            a.to_dict()
            for a in found
            if not backend.acl.enabled
            or backend.acl.allowed_namespaces(opts.token, "read-job", [a.namespace])
        ]
        return QueryResult(allowed, backend.state.table_index["allocs"], (("table", "allocs"),))

    result = await blocking(backend, opts, run)
    return json_response(result.body, result.index)


def _check_node_write(ctx: Ctx) -> None:
    # node:write is a management-only grant in the emulator's ACL model.
    _check_management(ctx)


async def _node_drain(ctx: Ctx, node_id: str) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    body = await ctx.body()
    if not isinstance(body, dict):
        raise errors.bad_request(
            "json: cannot unmarshal value into Go value of type api.NodeUpdateDrainRequest"
        )
    _check_node_write(ctx)
    spec = field_of(body, "DrainSpec")
    reply = nodes.update_drain(
        ctx.backend,
        node_id,
        spec if isinstance(spec, dict) else None,
        bool(field_of(body, "MarkEligible")),
        field_of(body, "Meta"),
    )
    return json_response(reply, reply["Index"], write=True)


async def _node_eligibility(ctx: Ctx, node_id: str) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    body = await ctx.body()
    if not isinstance(body, dict):
        raise errors.bad_request(
            "json: cannot unmarshal value into Go value of type "
            "structs.NodeUpdateEligibilityRequest"
        )
    _check_node_write(ctx)
    target = field_of(body, "NodeID") or node_id
    reply = nodes.update_eligibility(ctx.backend, target, str(field_of(body, "Eligibility") or ""))
    return json_response(reply, reply["Index"], write=True)


async def _node_evaluate(ctx: Ctx, node_id: str) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    _check_node_write(ctx)
    reply = nodes.evaluate(ctx.backend, node_id)
    return json_response(reply, reply["Index"], write=True)


# -- agent ----------------------------------------------------------------------------------------


def _member(ctx: Ctx) -> dict[str, Any]:
    backend = ctx.backend
    node = next(iter(backend.state.nodes.values()), None)
    return {
        "Name": f"{backend.node_name}.{backend.region}",
        "Addr": "127.0.0.1",
        "Port": 4648,
        "Tags": {
            "role": "nomad",
            "region": backend.region,
            "dc": node.datacenter if node else "dc1",
            "build": NOMAD_VERSION,
            "port": "4647",
            "bootstrap": "1",
            "expect": "1",
            "rpc_addr": "127.0.0.1",
            "vsn": "1",
            "raft_vsn": "3",
            "id": node.id if node else "",
        },
        "Status": "alive",
        "ProtocolMin": 1,
        "ProtocolMax": 5,
        "ProtocolCur": 2,
        "DelegateMin": 2,
        "DelegateMax": 5,
        "DelegateCur": 4,
    }


async def agent_members(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    _check_node_read(ctx, opts.token)
    member = _member(ctx)
    body = {
        "ServerName": member["Name"],
        "ServerRegion": ctx.backend.region,
        "ServerDC": member["Tags"]["dc"],
        "Members": [member],
    }
    return json_response(body)


async def agent_servers(ctx: Ctx) -> Response:
    if ctx.method not in (GET, *WRITE_METHODS):
        raise method_not_allowed()
    _check_management(ctx)  # agent:read / agent:write
    if ctx.method == GET:
        return json_response([SERVER_RPC_ADDR])
    return Response(b"", 200)


async def agent_join(ctx: Ctx) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    if not ctx.query.has("address"):
        raise errors.bad_request("missing address to join")
    address = ctx.query.get("address")
    warning = ""
    if ctx.backend.acl.enabled and not ctx.backend.acl.is_management(ctx.token):
        warning = (
            "anonymous server join is deprecated and will be removed in a future version of Nomad"
        )
    # One emulated agent: there is no other server to join, so none ever joins.
    error = f"the emulator is a single agent and joins no other ({address})"
    return json_response({"num_joined": 0, "error": error, "warning": warning})


async def agent_force_leave(ctx: Ctx) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    _check_management(ctx)
    if not ctx.query.get("node"):
        raise errors.bad_request("missing node to force leave")
    return Response(b"", 200)


async def agent_health(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    ok = {"ok": True, "message": "ok"}
    return json_response({"client": ok, "server": ok})


# -- search ---------------------------------------------------------------------------------------

_CONTEXTS = ("jobs", "evals", "allocs", "nodes", "deployment", "namespaces", "variables")


def _candidates(ctx: Ctx, token: str) -> dict[str, list[tuple[str, str, str]]]:
    """Per context: (ID, namespace, job) of every object the token may see."""
    state = ctx.backend.state
    acl = ctx.backend.acl
    visible = set(acl.allowed_namespaces(token, "read-job", sorted(state.namespaces)))
    out: dict[str, list[tuple[str, str, str]]] = {c: [] for c in _CONTEXTS}
    out["jobs"] = [(j.id, j.namespace, j.id) for j in state.jobs.values() if j.namespace in visible]
    out["evals"] = [
        (e.id, e.namespace, e.job_id) for e in state.evals.values() if e.namespace in visible
    ]
    out["allocs"] = [
        (a.id, a.namespace, a.job_id) for a in state.allocs.values() if a.namespace in visible
    ]
    out["deployment"] = [
        (d.id, d.namespace, d.job_id) for d in state.deployments.values() if d.namespace in visible
    ]
    if acl.allows_node_read(token):
        out["nodes"] = [(n.id, "", "") for n in state.nodes.values()]
    out["namespaces"] = [(name, "", "") for name in state.namespaces if name in visible]
    out["variables"] = [(p, ns, "") for (ns, p) in state.variables if ns in visible]
    return out


async def search(ctx: Ctx) -> Response:
    """``POST /v1/search``: IDs by prefix, up to 20 per context."""
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    body = decode_body(await ctx.request.body())
    prefix = str(field_of(body, "Prefix") or "")
    context = str(field_of(body, "Context") or "")
    if context not in (*_CONTEXTS, "all"):
        raise errors.bad_request(f'context "{context}" is not available')
    matches: dict[str, list[str]] = {}
    truncations: dict[str, bool] = {}
    for name, items in _candidates(ctx, ctx.token).items():
        if context not in ("all", name):
            continue
        found = sorted({i for i, _, _ in items if i.startswith(prefix)})
        matches[name] = found[:20]
        truncations[name] = len(found) > 20
    index = ctx.backend.state.index
    body = {"Matches": matches, "Truncations": truncations, "Index": index}
    body.update(LastContact=0, KnownLeader=True, NextToken="")
    return json_response(body, index)


async def fuzzy_search(ctx: Ctx) -> Response:
    """``POST /v1/search/fuzzy``: substring matches of names, with their scope."""
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    body = decode_body(await ctx.request.body())
    text = str(field_of(body, "Text") or "")
    context = str(field_of(body, "Context") or "")
    if len(text) < 2:
        raise errors.bad_request("fuzzy search query must be at least 2 characters, got 1")
    contexts = ("jobs", "groups", "tasks", "nodes", "namespaces", "variables")
    if context not in (*contexts, "all"):
        raise errors.bad_request(f'context "{context}" is not available')
    state = ctx.backend.state
    visible = set(
        ctx.backend.acl.allowed_namespaces(ctx.token, "read-job", sorted(state.namespaces))
    )
    found: dict[str, list[dict[str, Any]]] = {c: [] for c in contexts}
    for job in sorted(state.jobs.values(), key=lambda j: j.key):
        if job.namespace not in visible:
            continue
        if text in job.id:
            found["jobs"].append({"ID": job.id, "Scope": [job.namespace]})
        for group in job.task_groups:
            if text in group["Name"]:
                found["groups"].append({"ID": group["Name"], "Scope": [job.namespace, job.id]})
            for task in group.get("Tasks") or []:
                if text in str(task.get("Name")):
                    scope = [job.namespace, job.id, group["Name"]]
                    found["tasks"].append({"ID": task["Name"], "Scope": scope})
    if ctx.backend.acl.allows_node_read(ctx.token):
        found["nodes"] = [
            {"ID": n.name, "Scope": [n.id]} for n in state.nodes.values() if text in n.name
        ]
    found["namespaces"] = [{"ID": ns, "Scope": None} for ns in sorted(visible) if text in ns]
    found["variables"] = [
        {"ID": p, "Scope": [ns]}
        for (ns, p) in sorted(state.variables)
        if ns in visible and text in p
    ]
    matches = {c: v for c, v in found.items() if context in ("all", c) and (v or c == context)}
    index = state.index
    reply = {"Matches": matches, "Truncations": dict.fromkeys(matches, False), "Index": index}
    reply.update(LastContact=0, KnownLeader=True, NextToken="")
    return json_response(reply, index)


# -- system, operator, metrics, scaling ----------------------------------------------------------


async def system_gc(ctx: Ctx) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    _check_management(ctx)
    ctx.backend.collect_garbage()
    return Response(b"", 200)


async def system_reconcile_summaries(ctx: Ctx) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    _check_management(ctx)
    return Response(b"", 200)


async def operator_raft_configuration(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    ctx.options()
    _check_management(ctx)  # operator:read
    node = next(iter(ctx.backend.state.nodes.values()), None)
    server = {
        "ID": node.id if node else "",
        "Node": f"{ctx.backend.node_name}.{ctx.backend.region}",
        "Address": SERVER_RPC_ADDR,
        "Leader": True,
        "Voter": True,
        "RaftProtocol": "3",
    }
    return json_response({"Servers": [server], "Index": 1})


async def operator_raft_peer(ctx: Ctx) -> Response:
    if ctx.method != "DELETE":
        raise method_not_allowed()
    _check_management(ctx)  # operator:write
    address, peer_id = ctx.query.get("address"), ctx.query.get("id")
    if not address and not peer_id:
        raise errors.bad_request(
            "Must specify either ?id with the server's ID or "
            "?address with IP:port of peer to remove"
        )
    if address and address != SERVER_RPC_ADDR:
        raise errors.server_error(f'address "{address}" was not found in the Raft configuration')
    if peer_id:
        raise errors.server_error(f'id "{peer_id}" was not found in the Raft configuration')
    raise errors.server_error("cannot remove the only server in the Raft configuration")


async def metrics(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    state = ctx.backend.state
    gauges = {
        "nomad.nomad.job_status.running": sum(
            1 for j in state.jobs.values() if j.status == "running"
        ),
        "nomad.nomad.job_status.pending": sum(
            1 for j in state.jobs.values() if j.status == "pending"
        ),
        "nomad.nomad.job_status.dead": sum(1 for j in state.jobs.values() if j.status == "dead"),
        "nomad.client.allocations.running": sum(
            1 for a in state.allocs.values() if a.client_status == "running"
        ),
    }
    if ctx.query.get("format") == "prometheus":
        lines = []
        for name, value in gauges.items():
            metric = name.replace(".", "_")
            lines.append(f"# TYPE {metric} gauge\n{metric} {value}")
        return Response(("\n".join(lines) + "\n").encode(), 200, media_type=PLAIN)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime())
    body = {
        "Timestamp": stamp,
        "Gauges": [{"Name": n, "Value": float(v), "Labels": {}} for n, v in gauges.items()],
        "Points": [],
        "Counters": [],
        "Samples": [],
    }
    return json_response(body)


async def scaling_policies(ctx: Ctx) -> Response:
    """No job the emulator runs has a scaling block evaluated: always an empty list."""
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    ctx.backend.acl.check(opts.token, opts.namespace, "list-scaling-policies", "read-job")
    index = ctx.backend.state.index
    return json_response([], index)


async def scaling_policy(ctx: Ctx, policy_id: str) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    ctx.backend.acl.authenticate(opts.token)
    return error_response(errors.not_found("scaling policy not found"), meta_headers(1))
