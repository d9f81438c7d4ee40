"""Registering a job: the defaults and checks the server applies to a job's JSON.

Registering ``{"Job": {...}}`` gives back, on ``GET /v1/job/:id``, the job with Nomad's defaults
(namespace, region, priority, restart and reschedule policies per job type, resources, log
config, kill timeout, a group's update and migrate strategies taken from the job's...). The
server runs ``api.Job.Canonicalize`` before converting the job, so a job registered as the parse
endpoint returned it, canonicalized or not, ends up the same. Fields the emulator does not model
are kept as sent.
"""

from __future__ import annotations

import copy
from typing import Any

from .. import errors
from .canonicalize import default_migrate, default_update, merge_set_fields, update_is_empty

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

# nomad/structs/structs.go: DefaultServiceJobRestartPolicy / DefaultBatchJobRestartPolicy
_RESTART_DEFAULTS = {
    "service": {"Attempts": 2, "Interval": 30 * MINUTE, "Delay": 15 * SECOND, "Mode": "fail"},
    "batch": {"Attempts": 3, "Interval": 24 * HOUR, "Delay": 15 * SECOND, "Mode": "fail"},
}
# DefaultServiceJobReschedulePolicy / DefaultBatchJobReschedulePolicy
_RESCHEDULE_DEFAULTS = {
    "service": {
        "Attempts": 0,
        "Interval": 0,
        "Delay": 30 * SECOND,
        "DelayFunction": "exponential",
        "MaxDelay": HOUR,
        "Unlimited": True,
    },
    "batch": {
        "Attempts": 1,
        "Interval": 24 * HOUR,
        "Delay": 5 * SECOND,
        "DelayFunction": "constant",
        "MaxDelay": 0,
        "Unlimited": False,
    },
}

# Fields the server owns: they never make a registration "changed".
SERVER_FIELDS = (
    "Status",
    "StatusDescription",
    "Stable",
    "Version",
    "SubmitTime",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
    "NomadTokenID",
)


def _policy_kind(job_type: str) -> str:
    return "batch" if job_type in ("batch", "sysbatch") else "service"


def _merge(defaults: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in (given or {}).items():
        if value is not None:
            merged[key] = value
    return merged


def _with_defaults(target: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, value in defaults.items():
        if target.get(key) is None:
            target[key] = copy.deepcopy(value)


def canonicalize_job(raw: dict[str, Any], *, namespace: str, region: str) -> dict[str, Any]:
    """Return a new, canonical job dict (``raw`` is not modified).

    :param raw: the ``Job`` object of a register request (API form).
    :param namespace: the namespace the request resolved to.
    :param region: the region the job is registered in.
    """
    job = copy.deepcopy(raw)
    job_type = job.get("Type") or "service"
    _with_defaults(
        job,
        {
            "Stop": False,
            "Region": region,
            "ID": "",
            "ParentID": "",
            "Name": job.get("ID") or "",
            "Type": job_type,
            "Priority": 50,
            "AllAtOnce": False,
            "Datacenters": ["*"],
            "NodePool": "default",
            "Constraints": None,
            "Affinities": None,
            "Spreads": None,
            "TaskGroups": [],
            "Update": None,
            "Multiregion": None,
            "Periodic": None,
            "ParameterizedJob": None,
            "Dispatched": False,
            "DispatchIdempotencyToken": "",
            "Payload": None,
            "Meta": None,
            "ConsulToken": "",
            "ConsulNamespace": "",
            "VaultToken": "",
            "VaultNamespace": "",
            "NomadTokenID": "",
            "Status": "",
            "StatusDescription": "",
            "Stable": False,
            "Version": 0,
            "SubmitTime": 0,
            "CreateIndex": 0,
            "ModifyIndex": 0,
            "JobModifyIndex": 0,
        },
    )
    job["Namespace"] = namespace
    job["Region"] = region
    parameterized = job.get("ParameterizedJob")
    if isinstance(parameterized, dict):
        _with_defaults(parameterized, {"MetaRequired": None, "MetaOptional": None})
        parameterized["Payload"] = parameterized.get("Payload") or "optional"
    job_reschedule = job.pop("Reschedule", None)
    kind = _policy_kind(job_type)
    job_update = _job_update(job)
    for group in job.get("TaskGroups") or []:
        _canonicalize_group(group, kind, job_reschedule)
        _inherit_update_and_migrate(group, job, job_update)
    return job


def _job_update(job: dict[str, Any]) -> dict[str, Any] | None:
    """The job's update strategy once api Job.Canonicalize ran (the server runs it first)."""
    update = job.get("Update")
    if isinstance(update, dict):
        return merge_set_fields(default_update(), update)
    if job.get("Type") in ("service", "system"):
        return default_update()
    return None


def _inherit_update_and_migrate(
    group: dict[str, Any], job: dict[str, Any], job_update: dict[str, Any] | None
) -> None:
    """api TaskGroup.Canonicalize: a group's update and migrate strategies start from the job's."""
    update = group.get("Update")
    if job_update is not None and isinstance(update, dict):
        group["Update"] = merge_set_fields(job_update, update)
    elif job_update is not None and not update_is_empty(job_update):
        group["Update"] = copy.deepcopy(job_update)
    elif isinstance(update, dict):
        group["Update"] = merge_set_fields(default_update(), update)
    migrate = group.get("Migrate")
    job_migrate = job.get("Migrate")
    if isinstance(job_migrate, dict):
        migrate = merge_set_fields(job_migrate, migrate if isinstance(migrate, dict) else None)
    if migrate is None and job.get("Type") == "service":
        migrate = {}
    if isinstance(migrate, dict):
        migrate = merge_set_fields(default_migrate(), migrate)
    group["Migrate"] = migrate


def _canonicalize_group(group: dict[str, Any], kind: str, job_reschedule: Any) -> None:
    _with_defaults(
        group,
        {
            "Count": 1,
            "Constraints": None,
            "Affinities": None,
            "Spreads": None,
            "Meta": None,
            "Networks": None,
            "Services": None,
            "Volumes": None,
            "Update": None,
            "Migrate": None,
            "Tasks": [],
        },
    )
    group["RestartPolicy"] = _merge(_RESTART_DEFAULTS[kind], group.get("RestartPolicy"))
    reschedule = _merge(_RESCHEDULE_DEFAULTS[kind], job_reschedule)
    group["ReschedulePolicy"] = _merge(reschedule, group.get("ReschedulePolicy"))
    group["EphemeralDisk"] = _merge(
        {"Sticky": False, "SizeMB": 300, "Migrate": False}, group.get("EphemeralDisk")
    )
    for task in group.get("Tasks") or []:
        _canonicalize_task(task, group["RestartPolicy"])


def _canonicalize_task(task: dict[str, Any], group_restart: dict[str, Any]) -> None:
    _with_defaults(
        task,
        {
            "Driver": "",
            "User": "",
            "Config": None,
            "Env": None,
            "Services": None,
            "Vault": None,
            "Templates": None,
            "Constraints": None,
            "Affinities": None,
            "DispatchPayload": None,
            "Lifecycle": None,
            "Meta": None,
            "KillTimeout": 5 * SECOND,
            "Artifacts": None,
            "Leader": False,
            "ShutdownDelay": 0,
            "KillSignal": "",
            "Kind": "",
        },
    )
    task["RestartPolicy"] = _merge(group_restart, task.get("RestartPolicy"))
    resources = task.get("Resources") or {}
    task["Resources"] = _merge(
        {
            "CPU": 100,
            "Cores": 0,
            "MemoryMB": 300,
            "MemoryMaxMB": 0,
            "DiskMB": 0,
            "IOPS": 0,
            "Networks": None,
            "Devices": None,
        },
        resources,
    )
    task["LogConfig"] = _merge(
        {"MaxFiles": 10, "MaxFileSizeMB": 10, "Disabled": False}, task.get("LogConfig")
    )


def validate_job(job: dict[str, Any]) -> list[str]:
    """The subset of ``Job.Validate`` that protects the emulator's model."""
    problems: list[str] = []
    job_id = job.get("ID") or ""
    if " " in job_id:
        problems.append("Job ID contains a space")
    if job.get("Type") not in ("service", "batch", "system", "sysbatch"):
        problems.append(f"Invalid job type: {errors.quote(job.get('Type') or '')}")
    groups = job.get("TaskGroups") or []
    if not groups:
        problems.append("Missing job task groups")
    for group in groups:
        problems.extend(_validate_group(group))
    parameterized = job.get("ParameterizedJob")
    payload_mode = parameterized.get("Payload") if isinstance(parameterized, dict) else None
    if isinstance(parameterized, dict) and payload_mode not in (
        "optional",
        "required",
        "forbidden",
    ):
        problems.append("Unknown payload requirement: " + errors.quote(str(payload_mode)))
    return problems


def _validate_group(group: dict[str, Any]) -> list[str]:
    name = group.get("Name") or ""
    if not name:
        return ["Missing task group name"]
    tasks = group.get("Tasks") or []
    if not tasks:
        return [f"Task group {name} validation failed: Missing tasks for task group"]
    problems = []
    for task in tasks:
        if not task.get("Name"):
            problems.append(f"Task group {name} validation failed: Missing task name")
        elif not task.get("Driver"):
            problems.append(
                f"Task group {name} validation failed: Task {task['Name']} validation failed: "
                "Missing task driver"
            )
    return problems


def validate_update(old: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """``validateJobUpdate``: the error text, or None."""
    if old is None:
        return errors.DISPATCHED_ON_CREATE if new.get("Dispatched") else None
    if old.get("Type") != new.get("Type"):
        return errors.type_change(old.get("Type") or "", new.get("Type") or "")
    old_param, new_param = bool(old.get("ParameterizedJob")), bool(new.get("ParameterizedJob"))
    if old_param and not new_param:
        return "cannot update parameterized job to being non-parameterized"
    if new_param and not old_param:
        return "cannot update non-parameterized job to being parameterized"
    if bool(old.get("Dispatched")) != bool(new.get("Dispatched")):
        return errors.DISPATCHED_READ_ONLY
    return None


def spec_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """``Job.SpecChanged``: compare everything but the fields the server owns."""

    def strip(job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if k not in SERVER_FIELDS}

    return strip(old) != strip(new)
