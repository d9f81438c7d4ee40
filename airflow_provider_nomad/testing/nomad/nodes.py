"""Node write paths of ``nomad/node_endpoint.go``: drain, eligibility, forced evaluation.

A drain marks the node ineligible, records its ``DrainStrategy`` and ``LastDrain``, and, as
the drainer does, marks the node's service allocations for migration (batch ones too when the
deadline is negative, i.e. forced): the scheduler stops them and places replacements on
eligible nodes (blocked while there is none). Once nothing it must migrate still runs on the
node, the drain is complete: the strategy is cleared and the node stays ineligible. Making a
node eligible again retries the blocked evaluations, as freed capacity does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors
from .golang import format_time, quote
from .records import (
    TRIGGER_NODE_DRAIN,
    TRIGGER_NODE_UPDATE,
    EvalRecord,
    NodeRecord,
    node_event,
)
from .state_events import NODE_DRAIN, NODE_ELIGIBILITY

if TYPE_CHECKING:
    from .backend import NomadBackend

ELIGIBLE = "eligible"
INELIGIBLE = "ineligible"


def find_node(backend: NomadBackend, node_id: str) -> NodeRecord | None:
    """``Node.GetNode``: by full ID only."""
    return backend.state.nodes.get(node_id)


def _require(backend: NomadBackend, node_id: str, what: str) -> NodeRecord:
    if not node_id:
        raise errors.server_error(f"missing node ID for {what}")
    node = find_node(backend, node_id)
    if node is None:
        raise errors.server_error(errors.NODE_NOT_FOUND)
    return node


def _reply(index: int, eval_ids: list[str]) -> dict[str, Any]:
    return {
        "EvalIDs": eval_ids or None,
        "EvalCreateIndex": index if eval_ids else 0,
        "NodeModifyIndex": index,
        "Index": index,
        "LastContact": 0,
        "KnownLeader": False,
        "NextToken": "",
    }


def update_drain(
    backend: NomadBackend,
    node_id: str,
    spec: dict[str, Any] | None,
    mark_eligible: bool,
    meta: dict[str, str] | None,
) -> dict[str, Any]:
    """``Node.UpdateDrain``: start (``spec``) or cancel (None) a drain."""
    node = _require(backend, node_id, "drain update")
    now = backend.clock.now_ns()
    if spec is not None:
        deadline = int(spec.get("Deadline") or 0)
        node.drain_strategy = {
            "Deadline": deadline,
            "IgnoreSystemJobs": bool(spec.get("IgnoreSystemJobs")),
            # A negative deadline forces the drain now; zero waits with no deadline.
            "ForceDeadline": format_time(now + deadline if deadline > 0 else 0),
            "StartedAt": format_time(now),
        }
        node.eligibility = INELIGIBLE
        node.last_drain = {
            "StartedAt": format_time(now),
            "UpdatedAt": format_time(now),
            "Status": "draining",
            "AccessorID": "",
            "Meta": dict(meta or {}) or None,
        }
        node.events.append(node_event("Node drain strategy set", now, "Drain"))
        del node.events[:-10]  # structs.MaxRetainedNodeEvents
        reply = _commit(backend, node, NODE_DRAIN)
        reply["EvalIDs"] = _migrate(backend, node, force=deadline < 0) or None
        check_drain_complete(backend, node.id)
        return reply
    else:
        if node.drain_strategy is not None and node.last_drain is not None:
            node.last_drain = dict(node.last_drain, Status="canceled", UpdatedAt=format_time(now))
            node.events.append(node_event("Node drain strategy cancelled", now, "Drain"))
        node.drain_strategy = None
        if mark_eligible:
            node.eligibility = ELIGIBLE
    del node.events[:-10]  # structs.MaxRetainedNodeEvents
    return _commit(backend, node, NODE_DRAIN)


def update_eligibility(backend: NomadBackend, node_id: str, eligibility: str) -> dict[str, Any]:
    """``Node.UpdateEligibility``."""
    node = _require(backend, node_id, "setting scheduling eligibility")
    if eligibility not in (ELIGIBLE, INELIGIBLE):
        raise errors.server_error(f"invalid scheduling eligibility {quote(eligibility)}")
    if node.drain_strategy is not None and eligibility == ELIGIBLE:
        raise errors.server_error(
            "can not set node's scheduling eligibility to eligible while it is draining"
        )
    if node.eligibility != eligibility:
        message = "Node marked as eligible for scheduling"
        if eligibility == INELIGIBLE:
            message = "Node marked as ineligible for scheduling"
        node.events.append(node_event(message, backend.clock.now_ns()))
        del node.events[:-10]
    node.eligibility = eligibility
    return _commit(backend, node, NODE_ELIGIBILITY)


def _draining_allocs(backend: NomadBackend, node: NodeRecord, *, batch: bool) -> list:
    """Live allocations on ``node`` the drain waits for (batch ones only if ``batch``)."""
    out = []
    for alloc in backend.state.allocs.values():
        if alloc.node_id != node.id or alloc.terminal:
            continue
        kind = alloc.job.get("Type", "service")
        if kind in ("system", "sysbatch"):
            continue  # system jobs stay until the end (IgnoreSystemJobs aside)
        if kind == "batch" and not batch:
            continue
        out.append(alloc)
    return out


def _migrate(backend: NomadBackend, node: NodeRecord, force: bool) -> list[str]:
    """Mark the allocations to move for migration; one ``node-drain`` eval per job."""
    # Batch allocations are left to finish (until the deadline); a forced drain moves them too.
    allocs = _draining_allocs(backend, node, batch=force)
    if not allocs:
        return []
    state = backend.state
    created: list[EvalRecord] = []
    with state.write() as w:
        for alloc in allocs:
            alloc.desired_transition = dict(alloc.desired_transition, Migrate=True)
            state.put_alloc(w, alloc)
        for key in sorted({(a.namespace, a.job_id) for a in allocs}):
            job = state.jobs.get(key)
            if job is None:
                continue
            ev = EvalRecord(
                id=backend.new_id(),
                namespace=job.namespace,
                job_id=job.id,
                type=job.type,
                priority=int(job.spec.get("Priority") or 50),
                triggered_by=TRIGGER_NODE_DRAIN,
                job_modify_index=job.job_modify_index,
                node_id=node.id,
            )
            state.put_eval(w, ev)
            created.append(ev)
    for ev in created:
        backend.scheduler.enqueue(ev)
    return [ev.id for ev in created]


def check_drain_complete(backend: NomadBackend, node_id: str) -> None:
    """Finish a drain once no allocation it must move is left running on the node."""
    node = find_node(backend, node_id)
    if node is None or node.drain_strategy is None:
        return
    if _draining_allocs(backend, node, batch=True):
        return
    now = backend.clock.now_ns()
    node.drain_strategy = None
    if node.last_drain is not None:
        node.last_drain = dict(node.last_drain, Status="complete", UpdatedAt=format_time(now))
    node.events.append(node_event("Node drain complete", now, "Drain"))
    del node.events[:-10]
    _commit(backend, node, NODE_DRAIN)


def _commit(backend: NomadBackend, node: NodeRecord, event_type: str) -> dict[str, Any]:
    with backend.state.write() as w:
        w.event_type = event_type
        backend.state.put_node(w, node)  # also wakes blocked evaluations if it became eligible
    return _reply(w.index, [])


def evaluate(backend: NomadBackend, node_id: str) -> dict[str, Any]:
    """``Node.Evaluate``: one ``node-update`` evaluation per job with allocations on it."""
    node = _require(backend, node_id, "evaluation")
    state = backend.state
    jobs = sorted({(a.namespace, a.job_id) for a in state.allocs.values() if a.node_id == node.id})
    created: list[EvalRecord] = []
    with state.write() as w:
        for key in jobs:
            job = state.jobs.get(key)
            if job is None:
                continue
            ev = EvalRecord(
                id=backend.new_id(),
                namespace=job.namespace,
                job_id=job.id,
                type=job.type,
                priority=int(job.spec.get("Priority") or 50),
                triggered_by=TRIGGER_NODE_UPDATE,
                job_modify_index=job.job_modify_index,
                node_id=node.id,
            )
            state.put_eval(w, ev)
            created.append(ev)
    for ev in created:
        backend.scheduler.enqueue(ev)
    reply = _reply(w.index, [ev.id for ev in created])
    reply.update(HeartbeatTTL=0, LeaderRPCAddr="127.0.0.1:4647", NumNodes=len(state.nodes))
    return reply
