"""Events of one committed state write, as ``eventsFromChanges`` builds them.

Nomad names every event of a Raft apply after that apply's message type, whatever table the
row is in: a job registration's evaluation comes out as ``JobRegistered``, a job whose status
changed because an allocation finished comes out as ``AllocationUpdated``. The backend names
the writes it knows (``Write.event_type``); the rest are named after what they touched.
"""

from __future__ import annotations

from typing import Any

from .events import Event
from .state import Write

# nomad/structs/event.go
JOB_REGISTERED = "JobRegistered"
JOB_DEREGISTERED = "JobDeregistered"
PLAN_RESULT = "PlanResult"
ALLOCATION_UPDATED = "AllocationUpdated"
ALLOCATION_UPDATE_DESIRED_STATUS = "AllocationUpdateDesiredStatus"
EVALUATION_UPDATED = "EvaluationUpdated"
NODE_REGISTRATION = "NodeRegistration"
NODE_EVENT = "NodeStreamEvent"
NODE_DRAIN = "NodeDrain"
NODE_ELIGIBILITY = "NodeEligibility"
DEPLOYMENT_UPDATE = "DeploymentStatusUpdate"
DEPLOYMENT_PROMOTION = "DeploymentPromotion"
DEPLOYMENT_ALLOC_HEALTH = "DeploymentAllocHealth"
VARIABLE_UPDATED = "VariableUpdated"
ACL_TOKEN_UPSERTED = "ACLTokenUpserted"
ACL_TOKEN_DELETED = "ACLTokenDeleted"
ACL_POLICY_UPSERTED = "ACLPolicyUpserted"
ACL_POLICY_DELETED = "ACLPolicyDeleted"


def _inferred_type(w: Write) -> str:
    """The message type of a write the backend did not name, from what it touched."""
    tables = {table for table, _ in w.changes}
    if any(client for (table, _), (_, _, client) in w.changes.items() if table == "allocs"):
        return ALLOCATION_UPDATED
    if "allocs" in tables:
        return PLAN_RESULT
    if "deployment" in tables:
        return DEPLOYMENT_UPDATE
    if "evals" in tables:
        return EVALUATION_UPDATED
    if "nodes" in tables:
        return NODE_REGISTRATION
    if "variables" in tables:
        return VARIABLE_UPDATED
    return JOB_REGISTERED


def _event(table: str, row: Any, deleted: bool) -> Event | None:
    """``eventFromChange`` for the tables the emulator keeps."""
    if table == "jobs":
        payload: dict[str, Any] = {"Job": row.to_dict()}
        if deleted:
            payload["Deleted"] = True
        return Event("Job", "", row.id, row.namespace, None, 0, payload)
    if deleted and table in ("evals", "allocs", "deployment"):
        return None  # Nomad publishes nothing for garbage collection
    if table == "evals":
        keys = [row.job_id, row.deployment_id]
        payload = {"Evaluation": row.to_dict()}
        return Event("Evaluation", "", row.id, row.namespace, keys, 0, payload)
    if table == "allocs":
        alloc = row.to_dict()
        alloc.pop("Job", None)  # "remove job info to help keep size of alloc event down"
        keys = [row.job_id, row.deployment_id]
        return Event("Allocation", "", row.id, row.namespace, keys, 0, {"Allocation": alloc})
    if table == "nodes":
        node = row.to_dict()
        node.pop("SecretID", None)
        return Event("Node", "", row.id, "", None, 0, {"Node": node})
    if table == "deployment":
        payload = {"Deployment": row.to_dict()}
        return Event("Deployment", "", row.id, row.namespace, [row.job_id], 0, payload)
    if table == "variables":
        payload = {"Metadata": row.metadata()}
        if deleted:
            payload["Deleted"] = True
        return Event("Variable", "", row.path, row.namespace, None, 0, payload)
    if table == "acl_token":
        payload = {"ACLToken": row.to_dict(with_secret=False)}  # Sanitize(): no secret
        return Event("ACLToken", "", row.accessor_id, "", None, 0, payload)
    if table == "acl_policy":
        return Event("ACLPolicy", "", row.name, "", None, 0, {"ACLPolicy": row.to_dict()})
    return None


def events_of(w: Write) -> list[Event]:
    """The events of a committed write, in the order its rows changed."""
    kind = w.event_type or _inferred_type(w)
    out = []
    for (table, _), (row, deleted, _client) in w.changes.items():
        event = _event(table, row, deleted)
        if event is not None:
            event.type = kind
            event.index = w.index
            out.append(event)
    return out
