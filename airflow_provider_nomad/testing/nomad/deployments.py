"""Deployments of service jobs, after ``nomad/structs/deployment.go`` and the deployment watcher.

A service job whose task groups have an update strategy (``max_parallel`` > 0) gets one
deployment per job version, created when that version's first allocations are placed. An
allocation is healthy once all its tasks have run for the group's ``min_healthy_time``
(``health_check = "task_states"`` semantics: the emulator runs no Consul checks); one that fails
first is unhealthy. All healthy: the deployment is ``successful`` and the job version stable;
any unhealthy: ``failed``. Batch jobs never have deployments. Canaries, auto-revert and
progress deadlines are not modelled.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import errors
from .golang import format_time

if TYPE_CHECKING:
    from .backend import NomadBackend
    from .records import AllocRecord, JobRecord
    from .state import StateStore, Write

RUNNING = "running"
PAUSED = "paused"
FAILED = "failed"
SUCCESSFUL = "successful"
CANCELLED = "cancelled"
ACTIVE = frozenset({RUNNING, PAUSED, "initializing", "pending", "blocked", "unblocking"})

DESC_RUNNING = "Deployment is running"
DESC_PAUSED = "Deployment is paused"
DESC_SUCCESSFUL = "Deployment completed successfully"
DESC_STOPPED_JOB = "Cancelled because job is stopped"
DESC_NEWER_JOB = "Cancelled due to newer version of job"
DESC_FAILED_ALLOCS = "Failed due to unhealthy allocations"
DESC_FAILED_BY_USER = "Deployment marked as failed"

# nomad/structs/errors.go
TERMINAL_NO_FAIL = "can't fail terminal deployment"
TERMINAL_NO_PAUSE = "can't pause terminal deployment"
TERMINAL_NO_RESUME = "can't resume terminal deployment"
TERMINAL_NO_PROMOTE = "can't promote terminal deployment"
TERMINAL_NO_SET_HEALTH = "can't set health of allocations for a terminal deployment"

DEFAULT_MIN_HEALTHY_NS = 10 * 1_000_000_000


@dataclass
class DeploymentRecord:
    """A ``Deployment``."""

    id: str
    namespace: str
    job_id: str
    job_version: int
    job_modify_index: int
    job_create_index: int
    groups: dict[str, dict[str, Any]]
    eval_priority: int = 50
    status: str = RUNNING
    status_description: str = DESC_RUNNING
    create_index: int = 0
    modify_index: int = 0
    create_time: int = 0
    modify_time: int = 0
    min_healthy_ns: dict[str, int] = field(default_factory=dict)

    @property
    def job_key(self) -> tuple[str, str]:
        return (self.namespace, self.job_id)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def to_dict(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Namespace": self.namespace,
            "JobID": self.job_id,
            "JobVersion": self.job_version,
            "JobModifyIndex": self.job_modify_index,
            "JobSpecModifyIndex": self.job_modify_index,
            "JobCreateIndex": self.job_create_index,
            "IsMultiregion": False,
            "TaskGroups": copy.deepcopy(self.groups),
            "Status": self.status,
            "StatusDescription": self.status_description,
            "EvalPriority": self.eval_priority,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
            "CreateTime": self.create_time,
            "ModifyTime": self.modify_time,
        }


def update_strategy(job: JobRecord, group: dict[str, Any]) -> dict[str, Any] | None:
    """The group's update strategy (the job's when the group has none), if it deploys."""
    strategy = group.get("Update") or job.spec.get("Update")
    if not isinstance(strategy, dict) or int(strategy.get("MaxParallel") or 0) <= 0:
        return None
    return strategy


def for_placement(
    state: StateStore, w: Write, job: JobRecord, new_id: str, now_ns: int
) -> DeploymentRecord | None:
    """The deployment new allocations of ``job`` belong to, created on first use."""
    if job.type != "service" or job.stopped:
        return None
    strategies = {g["Name"]: update_strategy(job, g) for g in job.task_groups}
    if not any(strategies.values()):
        return None
    for existing in state.job_deployments(job.key):
        if existing.job_version == job.version and existing.job_create_index == job.create_index:
            return existing if existing.active else None
        if existing.active:  # a newer version supersedes it
            existing.status, existing.status_description = CANCELLED, DESC_NEWER_JOB
            existing.modify_time = now_ns
            state.put_deployment(w, existing)
    groups = {}
    min_healthy = {}
    for group in job.task_groups:
        strategy = strategies[group["Name"]]
        if strategy is None:
            continue
        groups[group["Name"]] = {
            "AutoRevert": bool(strategy.get("AutoRevert")),
            "AutoPromote": bool(strategy.get("AutoPromote")),
            "ProgressDeadline": int(strategy.get("ProgressDeadline") or 0),
            "RequireProgressBy": format_time(0),
            "Promoted": False,
            "PlacedCanaries": None,
            "DesiredCanaries": 0,
            "DesiredTotal": int(group.get("Count", 1)),
            "PlacedAllocs": 0,
            "HealthyAllocs": 0,
            "UnhealthyAllocs": 0,
        }
        min_healthy[group["Name"]] = int(strategy.get("MinHealthyTime") or DEFAULT_MIN_HEALTHY_NS)
    deployment = DeploymentRecord(
        id=new_id,
        namespace=job.namespace,
        job_id=job.id,
        job_version=job.version,
        job_modify_index=job.job_modify_index,
        job_create_index=job.create_index,
        groups=groups,
        eval_priority=int(job.spec.get("Priority") or 50),
        create_time=now_ns,
        modify_time=now_ns,
        min_healthy_ns=min_healthy,
    )
    state.put_deployment(w, deployment)
    return deployment


def placed(state: StateStore, w: Write, deployment: DeploymentRecord, alloc: AllocRecord) -> None:
    group = deployment.groups.get(alloc.task_group)
    if group is None:
        return
    alloc.deployment_id = deployment.id
    group["PlacedAllocs"] += 1
    state.put_deployment(w, deployment)


def set_health(
    backend: NomadBackend, deployment: DeploymentRecord, alloc: AllocRecord, healthy: bool
) -> None:
    """Record an allocation's health and settle the deployment when it can be."""
    if not deployment.active or alloc.deployment_status is not None:
        return
    now = backend.clock.now_ns()
    state = backend.state
    with state.write() as w:
        alloc.deployment_status = {
            "Healthy": healthy,
            "Timestamp": format_time(now),
            "Canary": False,
            "ModifyIndex": w.index,
        }
        state.put_alloc(w, alloc)
        group = deployment.groups.get(alloc.task_group)
        if group is not None:
            group["HealthyAllocs" if healthy else "UnhealthyAllocs"] += 1
        _settle(backend, w, deployment, now)
        deployment.modify_time = now
        state.put_deployment(w, deployment)


def _settle(backend: NomadBackend, w: Write, deployment: DeploymentRecord, now: int) -> None:
    if deployment.status != RUNNING:
        return
    groups = deployment.groups.values()
    if any(g["UnhealthyAllocs"] for g in groups):
        deployment.status, deployment.status_description = FAILED, DESC_FAILED_ALLOCS
    elif all(g["HealthyAllocs"] >= g["DesiredTotal"] for g in groups):
        deployment.status, deployment.status_description = SUCCESSFUL, DESC_SUCCESSFUL
        backend.versions.mark_stable(w, deployment.job_key, deployment.job_version, True)


def job_stopped(state: StateStore, w: Write, key: tuple[str, str], now: int) -> None:
    """Deregistering a job cancels its active deployment."""
    for deployment in state.job_deployments(key):
        if deployment.active:
            deployment.status, deployment.status_description = CANCELLED, DESC_STOPPED_JOB
            deployment.modify_time = now
            state.put_deployment(w, deployment)


# -- user actions (``/v1/deployment/...``) -------------------------------------------------


def _active_or(deployment: DeploymentRecord, message: str) -> None:
    if not deployment.active:
        raise errors.server_error(message)


def fail(backend: NomadBackend, deployment: DeploymentRecord) -> int:
    _active_or(deployment, TERMINAL_NO_FAIL)
    deployment.status, deployment.status_description = FAILED, DESC_FAILED_BY_USER
    return _save(backend, deployment)


def pause(backend: NomadBackend, deployment: DeploymentRecord, paused: bool) -> int:
    _active_or(deployment, TERMINAL_NO_PAUSE if paused else TERMINAL_NO_RESUME)
    if paused:
        deployment.status, deployment.status_description = PAUSED, DESC_PAUSED
    else:
        deployment.status, deployment.status_description = RUNNING, DESC_RUNNING
    return _save(backend, deployment)


def promote(backend: NomadBackend, deployment: DeploymentRecord, groups: list[str]) -> int:
    _active_or(deployment, TERMINAL_NO_PROMOTE)
    # No canaries are ever placed: UpdateDeploymentPromotion skips groups without canaries,
    # so a promotion succeeds and changes nothing but the deployment's index.
    return _save(backend, deployment)


def set_alloc_health(
    backend: NomadBackend, deployment: DeploymentRecord, healthy: list[str], unhealthy: list[str]
) -> int:
    _active_or(deployment, TERMINAL_NO_SET_HEALTH)
    for alloc_id, verdict in [(a, True) for a in healthy] + [(a, False) for a in unhealthy]:
        alloc = backend.state.allocs.get(alloc_id)
        if alloc is None or alloc.deployment_id != deployment.id:
            raise errors.server_error(
                f"Allocation {alloc_id} is not part of the deployment {deployment.id}"
            )
        set_health(backend, deployment, alloc, verdict)
    return backend.state.index


def _save(backend: NomadBackend, deployment: DeploymentRecord) -> int:
    deployment.modify_time = backend.clock.now_ns()
    with backend.state.write() as w:
        backend.state.put_deployment(w, deployment)
    return w.index
