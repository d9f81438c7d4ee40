"""The stored job as Nomad serves it: every ``structs.Job`` key present, none it withholds.

The jobspec canonicalizer fills the defaults of what a client sends; this adds, where a job is
served (``GET /v1/job/:id``, versions, an allocation's ``Job``, events), the keys Go always
encodes even when unset, the default workload identity ``Task.Canonicalize`` gives every task,
and drops the tokens Nomad never returns.
"""

from __future__ import annotations

import copy
from typing import Any

# structs.Job keys a registration may omit; Go encodes them as null / zero.
_JOB_KEYS: dict[str, Any] = {"UI": None, "VersionTag": None}
# Never served: Nomad only takes them on submission (and no longer stores them).
_WITHHELD_JOB_KEYS = ("ConsulToken", "VaultToken")
_GROUP_KEYS: dict[str, Any] = {
    "Scaling": None,
    "Disconnect": None,
    "Consul": None,
    "ShutdownDelay": None,
    "MaxRunDuration": None,
    "StopAfterClientDisconnect": None,
    "MaxClientDisconnect": None,
    "PreventRescheduleOnLost": False,
}
_TASK_KEYS: dict[str, Any] = {
    "Secrets": None,
    "Consul": None,
    "VolumeMounts": None,
    "ScalingPolicies": None,
    "CSIPluginConfig": None,
    "Identities": None,
    "Actions": None,
    "Schedule": None,
}


def default_identity() -> dict[str, Any]:
    """``structs.DefaultWorkloadIdentity``, canonicalized."""
    return {
        "Name": "default",
        "Audience": ["nomadproject.io"],
        "ChangeMode": "",
        "ChangeSignal": "",
        "Env": False,
        "File": False,
        "Filepath": "",
        "ServiceName": "",
        "TTL": 0,
        "ExtraClaims": None,
    }


def _fill(target: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, value in defaults.items():
        target.setdefault(key, copy.deepcopy(value))


def stored_job(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of a canonical job spec with Nomad's server-side shape (done once, at store)."""
    job = copy.deepcopy(spec)
    for key in _WITHHELD_JOB_KEYS:
        job.pop(key, None)
    _fill(job, _JOB_KEYS)
    for group in job.get("TaskGroups") or []:
        _fill(group, _GROUP_KEYS)
        for task in group.get("Tasks") or []:
            _fill(task, _TASK_KEYS)
            if task.get("Identity") is None:
                task["Identity"] = _task_identity(task)
    return job


def _task_identity(task: dict[str, Any]) -> dict[str, Any]:
    """The ``default`` identity: moved out of ``Identities`` if given there, else the default."""
    identities = task.get("Identities") or []
    for index, identity in enumerate(identities):
        if isinstance(identity, dict) and identity.get("Name") in ("default", "", None):
            del identities[index]
            task["Identities"] = identities or None
            return {**default_identity(), **identity, "Name": "default"}
    return default_identity()
