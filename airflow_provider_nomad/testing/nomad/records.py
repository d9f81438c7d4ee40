"""The rows of the emulator's state store and their JSON, shaped like Nomad's structs.

``Evaluation`` and ``Allocation`` carry ``_struct bool `codec:",omitempty"``` in Nomad, so their
full JSON omits empty fields; list stubs and task states do not. ``to_dict`` methods follow that.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

from .golang import format_duration, format_time, quote, snappy_encode

# Allocation statuses (nomad/structs/structs.go)
CLIENT_PENDING = "pending"
CLIENT_RUNNING = "running"
CLIENT_COMPLETE = "complete"
CLIENT_FAILED = "failed"
CLIENT_LOST = "lost"
CLIENT_TERMINAL = frozenset({CLIENT_COMPLETE, CLIENT_FAILED, CLIENT_LOST})
DESIRED_RUN = "run"
DESIRED_STOP = "stop"

EVAL_PENDING = "pending"
EVAL_BLOCKED = "blocked"
EVAL_COMPLETE = "complete"
EVAL_FAILED = "failed"
EVAL_CANCELED = "canceled"
EVAL_TERMINAL = frozenset({EVAL_COMPLETE, EVAL_FAILED, EVAL_CANCELED})

TRIGGER_JOB_REGISTER = "job-register"
TRIGGER_JOB_DEREGISTER = "job-deregister"
TRIGGER_NODE_UPDATE = "node-update"
TRIGGER_NODE_DRAIN = "node-drain"
TRIGGER_ALLOC_FAILURE = "alloc-failure"
TRIGGER_ALLOC_STOP = "alloc-stop"
TRIGGER_QUEUED_ALLOCS = "queued-allocs"

JOB_PENDING = "pending"
JOB_RUNNING = "running"
JOB_DEAD = "dead"

TASK_PENDING = "pending"
TASK_RUNNING = "running"
TASK_DEAD = "dead"

# scheduler/reconcile.go descriptions
DESC_NOT_NEEDED = "alloc not needed due to job update"
DESC_LOST = "alloc is lost since its node is down"
DESC_RESCHEDULED = "alloc was rescheduled because it failed"
DESC_MIGRATING = "alloc is being migrated"
DESC_UPDATING = "alloc is being updated due to job update"
DESC_BLOCKED_EVAL = "created to place remaining allocations"
DESC_FOLLOWUP_EVAL = "created for delayed rescheduling"

MAX_TASK_EVENTS = 10

#: The Nomad version the emulator answers as (agent self, node attributes, members).
NOMAD_VERSION = "2.0.0"


def _omit_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in (None, "", 0, False, {}, [])}


@dataclass
class JobRecord:
    """A registered job: its canonical spec plus what the server tracks about it."""

    spec: dict[str, Any]
    create_index: int = 0
    modify_index: int = 0
    job_modify_index: int = 0
    status: str = JOB_PENDING
    version: int = 0
    submit_time: int = 0
    payload: bytes = b""

    @property
    def id(self) -> str:
        return self.spec["ID"]

    @property
    def namespace(self) -> str:
        return self.spec["Namespace"]

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.id)

    @property
    def type(self) -> str:
        return self.spec.get("Type") or "service"

    @property
    def stopped(self) -> bool:
        return bool(self.spec.get("Stop"))

    @property
    def parameterized(self) -> dict[str, Any] | None:
        """The parameterized block of a template job (``IsParameterized``: not a child)."""
        if self.spec.get("Dispatched"):
            return None
        return self.spec.get("ParameterizedJob") or None

    @property
    def periodic(self) -> bool:
        return bool(self.spec.get("Periodic"))

    @property
    def parent_id(self) -> str:
        return self.spec.get("ParentID") or ""

    @property
    def task_groups(self) -> list[dict[str, Any]]:
        return self.spec.get("TaskGroups") or []

    def group(self, name: str) -> dict[str, Any] | None:
        return next((g for g in self.task_groups if g.get("Name") == name), None)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.spec)
        out.update(
            Status=self.status,
            Version=self.version,
            SubmitTime=self.submit_time,
            CreateIndex=self.create_index,
            ModifyIndex=self.modify_index,
            JobModifyIndex=self.job_modify_index,
            # Nomad stores a child's payload snappy-compressed and serves it so (an empty one
            # too); a job that was not dispatched has none.
            Payload=(
                base64.b64encode(snappy_encode(self.payload)).decode()
                if self.spec.get("Dispatched")
                else None
            ),
        )
        return out

    def stub(self, summary: JobSummary, with_meta: bool) -> dict[str, Any]:
        """``JobListStub``."""
        spec = self.spec
        out = {
            "ID": self.id,
            "ParentID": self.parent_id,
            "Name": spec.get("Name", self.id),
            "Namespace": self.namespace,
            "Datacenters": spec.get("Datacenters"),
            "NodePool": spec.get("NodePool", "default"),
            "Multiregion": spec.get("Multiregion"),
            "Type": self.type,
            "Priority": spec.get("Priority", 50),
            "Periodic": self.periodic,
            "ParameterizedJob": bool(self.spec.get("ParameterizedJob")),
            "Stop": self.stopped,
            "Status": self.status,
            "StatusDescription": spec.get("StatusDescription", ""),
            "JobSummary": summary.to_dict(),
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
            "JobModifyIndex": self.job_modify_index,
            "SubmitTime": self.submit_time,
        }
        if with_meta:
            out["Meta"] = spec.get("Meta")
        return out


SUMMARY_FIELDS = ("Queued", "Complete", "Failed", "Running", "Starting", "Lost", "Unknown")


@dataclass
class JobSummary:
    """``JobSummary``: per task group alloc counts and, for parents, children counts."""

    job_id: str
    namespace: str
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    children: dict[str, int] = field(
        default_factory=lambda: {"Pending": 0, "Running": 0, "Dead": 0}
    )
    create_index: int = 0
    modify_index: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "JobID": self.job_id,
            "Namespace": self.namespace,
            "Summary": {name: dict(counts) for name, counts in self.groups.items()},
            "Children": dict(self.children),
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }


@dataclass
class EvalRecord:
    """An ``Evaluation``."""

    id: str
    namespace: str
    job_id: str
    type: str
    triggered_by: str
    priority: int = 50
    status: str = EVAL_PENDING
    status_description: str = ""
    job_modify_index: int = 0
    node_id: str = ""
    wait_until_ns: int = 0
    next_eval: str = ""
    previous_eval: str = ""
    blocked_eval: str = ""
    failed_tg_allocs: dict[str, dict[str, Any]] | None = None
    queued_allocations: dict[str, int] | None = None
    snapshot_index: int = 0
    deployment_id: str = ""
    create_index: int = 0
    modify_index: int = 0
    create_time: int = 0
    modify_time: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in EVAL_TERMINAL

    def to_dict(self) -> dict[str, Any]:
        data = {
            "ID": self.id,
            "Namespace": self.namespace,
            "Priority": self.priority,
            "Type": self.type,
            "TriggeredBy": self.triggered_by,
            "JobID": self.job_id,
            "JobModifyIndex": self.job_modify_index,
            "NodeID": self.node_id,
            "DeploymentID": self.deployment_id,
            "Status": self.status,
            "StatusDescription": self.status_description,
            "WaitUntil": format_time(self.wait_until_ns) if self.wait_until_ns else None,
            "NextEval": self.next_eval,
            "PreviousEval": self.previous_eval,
            "BlockedEval": self.blocked_eval,
            "FailedTGAllocs": copy.deepcopy(self.failed_tg_allocs),
            "QueuedAllocations": dict(self.queued_allocations or {}),
            "SnapshotIndex": self.snapshot_index,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
            "CreateTime": self.create_time,
            "ModifyTime": self.modify_time,
        }
        return _omit_empty(data)


TASK_EVENT_FIELDS: dict[str, Any] = {
    "Type": "",
    "Time": 0,
    "Message": "",
    "DisplayMessage": "",
    "Details": None,
    "FailsTask": False,
    "RestartReason": "",
    "SetupError": "",
    "DriverError": "",
    "ExitCode": 0,
    "Signal": 0,
    "KillTimeout": 0,
    "KillError": "",
    "KillReason": "",
    "StartDelay": 0,
    "DownloadError": "",
    "ValidationError": "",
    "DiskLimit": 0,
    "FailedSibling": "",
    "VaultError": "",
    "TaskSignalReason": "",
    "TaskSignal": "",
    "DriverMessage": "",
    "GenericSource": "",
}


@dataclass
class TaskState:
    """``TaskState``: state, failure, restarts, times and the last ten events."""

    state: str = TASK_PENDING
    failed: bool = False
    restarts: int = 0
    last_restart_ns: int = 0
    started_at_ns: int = 0
    finished_at_ns: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    def append(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        del self.events[:-MAX_TASK_EVENTS]

    def to_dict(self) -> dict[str, Any]:
        return {
            "State": self.state,
            "Failed": self.failed,
            "Restarts": self.restarts,
            "LastRestart": format_time(self.last_restart_ns),
            "StartedAt": format_time(self.started_at_ns),
            "FinishedAt": format_time(self.finished_at_ns),
            "Events": [dict(e, Details=dict(e["Details"] or {})) for e in self.events],
            # TaskScheduleState: "" while the task runs unpaused. The client's TaskHandle
            # (driver state) never leaves the client: structs.TaskState has no such field.
            "Paused": "",
        }


@dataclass
class AllocRecord:
    """An ``Allocation``."""

    id: str
    namespace: str
    eval_id: str
    name: str
    node_id: str
    node_name: str
    job_id: str
    job: dict[str, Any]
    job_create_index: int
    task_group: str
    task_resources: dict[str, dict[str, int]]
    disk_mb: int
    metrics: dict[str, Any]
    desired_status: str = DESIRED_RUN
    desired_description: str = ""
    client_status: str = CLIENT_PENDING
    client_description: str = ""
    task_states: dict[str, TaskState] = field(default_factory=dict)
    previous_allocation: str = ""
    next_allocation: str = ""
    reschedule_events: list[dict[str, Any]] | None = None
    followup_eval_id: str = ""
    deployment_id: str = ""
    #: ``AllocDeploymentStatus`` once the deployment watcher judged it (None before).
    deployment_status: dict[str, Any] | None = None
    #: ``DesiredTransition`` flags the server set (``Migrate`` by ``allocation stop``).
    desired_transition: dict[str, Any] = field(default_factory=dict)
    signing_key_id: str = ""
    create_index: int = 0
    modify_index: int = 0
    alloc_modify_index: int = 0
    create_time: int = 0
    modify_time: int = 0

    @property
    def client_terminal(self) -> bool:
        return self.client_status in CLIENT_TERMINAL

    @property
    def server_terminal(self) -> bool:
        return self.desired_status != DESIRED_RUN

    @property
    def terminal(self) -> bool:
        """``Allocation.TerminalStatus``: stopped by the server or done on the client."""
        return self.server_terminal or self.client_terminal

    @property
    def job_version(self) -> int:
        return int(self.job.get("Version", 0))

    def reschedule_tracker(self) -> dict[str, Any] | None:
        if not self.reschedule_events:
            return None
        return {"Events": [dict(e) for e in self.reschedule_events], "LastReschedule": ""}

    def last_event_time_ns(self) -> int:
        """``Allocation.LastEventTime``: latest task finish, else the alloc's modify time."""
        finished = [ts.finished_at_ns for ts in self.task_states.values() if ts.finished_at_ns]
        return max(finished) if finished else self.modify_time

    def allocated_resources(self) -> dict[str, Any]:
        tasks = {
            name: {
                "Cpu": {"CpuShares": res["CPU"], "ReservedCores": None},
                "Memory": {"MemoryMB": res["MemoryMB"], "MemoryMaxMB": res.get("MemoryMaxMB", 0)},
                "Networks": None,
                "Devices": None,
            }
            for name, res in self.task_resources.items()
        }
        return {
            "Tasks": tasks,
            "TaskLifecycles": dict.fromkeys(self.task_resources),
            "Shared": {"Networks": None, "DiskMB": self.disk_mb, "Ports": None},
        }

    def _task_states_dict(self) -> dict[str, Any] | None:
        if not self.task_states:
            return None
        return {name: ts.to_dict() for name, ts in self.task_states.items()}

    def _desired_transition(self) -> dict[str, Any]:
        flags = ("Migrate", "Reschedule", "ForceReschedule", "NoShutdownDelay")
        return {flag: self.desired_transition.get(flag) for flag in flags}

    def stub(self, *, resources: bool = False) -> dict[str, Any]:
        """``AllocListStub``: no Job, Metrics or PreviousAllocation; no empty-field omission.

        :param resources: include ``AllocatedResources`` (``?resources=true``; omitted else).
        """
        out = self._stub()
        if resources:
            out = {**out, "AllocatedResources": self.allocated_resources()}
        return out

    def _stub(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "EvalID": self.eval_id,
            "Name": self.name,
            "Namespace": self.namespace,
            "NodeID": self.node_id,
            "NodeName": self.node_name,
            "JobID": self.job_id,
            "JobType": self.job.get("Type", "batch"),
            "JobVersion": self.job_version,
            "TaskGroup": self.task_group,
            "DesiredStatus": self.desired_status,
            "DesiredDescription": self.desired_description,
            "ClientStatus": self.client_status,
            "ClientDescription": self.client_description,
            "DesiredTransition": self._desired_transition(),
            "TaskStates": self._task_states_dict(),
            "DeploymentStatus": copy.deepcopy(self.deployment_status),
            "FollowupEvalID": self.followup_eval_id,
            "NextAllocation": self.next_allocation,
            "RescheduleTracker": self.reschedule_tracker(),
            "PreemptedAllocations": None,
            "PreemptedByAllocation": "",
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
            "CreateTime": self.create_time,
            "ModifyTime": self.modify_time,
        }

    def to_dict(self) -> dict[str, Any]:
        data = {
            "ID": self.id,
            "Namespace": self.namespace,
            "EvalID": self.eval_id,
            "Name": self.name,
            "NodeID": self.node_id,
            "NodeName": self.node_name,
            "JobID": self.job_id,
            "Job": self.job,
            "TaskGroup": self.task_group,
            "AllocatedResources": self.allocated_resources(),
            "Metrics": copy.deepcopy(self.metrics),
            "DesiredStatus": self.desired_status,
            "DesiredDescription": self.desired_description,
            "DesiredTransition": self._desired_transition() if self.desired_transition else {},
            "ClientStatus": self.client_status,
            "ClientDescription": self.client_description,
            "TaskStates": self._task_states_dict(),
            "PreviousAllocation": self.previous_allocation,
            "NextAllocation": self.next_allocation,
            "DeploymentID": self.deployment_id,
            "DeploymentStatus": copy.deepcopy(self.deployment_status),
            "RescheduleTracker": self.reschedule_tracker(),
            "FollowupEvalID": self.followup_eval_id,
            "SigningKeyID": self.signing_key_id,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
            "AllocModifyIndex": self.alloc_modify_index,
            "CreateTime": self.create_time,
            "ModifyTime": self.modify_time,
        }
        return _omit_empty(data)


@dataclass
class NodeRecord:
    """An emulated client node: capacity, drivers, placement attributes."""

    id: str
    name: str
    datacenter: str = "dc1"
    cpu: int = 4000
    memory: int = 8192
    disk: int = 100_000
    drivers: tuple[str, ...] = ("raw_exec", "exec", "mock_driver")
    node_class: str = ""
    node_pool: str = "default"
    status: str = "ready"
    attributes: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    eligibility: str = "eligible"
    #: ``DrainStrategy`` while draining, else None.
    drain_strategy: dict[str, Any] | None = None
    last_drain: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    registered_ns: int = 0
    create_index: int = 0
    modify_index: int = 0

    def target_values(self) -> dict[str, str]:
        """Values for constraint targets such as ``${node.unique.name}``."""
        values = {
            "node.unique.id": self.id,
            "node.unique.name": self.name,
            "node.datacenter": self.datacenter,
            "node.class": self.node_class,
            "node.pool": self.node_pool,
        }
        values.update({f"attr.{k}": v for k, v in self.all_attributes().items()})
        values.update({f"meta.{k}": v for k, v in self.meta.items()})
        return values

    def all_attributes(self) -> dict[str, str]:
        attrs = {
            "kernel.name": "linux",
            "os.name": "linux",
            "cpu.arch": "amd64",
            "unique.hostname": self.name,
            "os.version": "emulated",
            "nomad.version": NOMAD_VERSION,
        }
        attrs.update({f"driver.{d}": "1" for d in self.drivers})
        attrs.update(self.attributes)
        return attrs

    def _drivers(self) -> dict[str, Any]:
        return {
            d: {
                "Attributes": {f"driver.{d}": "true"},
                "Detected": True,
                "Healthy": True,
                "HealthDescription": "Healthy",
                "UpdateTime": format_time(self.registered_ns),
            }
            for d in self.drivers
        }

    def _resources(self) -> dict[str, Any]:
        return {
            "Cpu": {"CpuShares": self.cpu, "TotalCpuCores": 0, "ReservableCpuCores": None},
            "Memory": {"MemoryMB": self.memory},
            "Disk": {"DiskMB": self.disk},
            "Networks": None,
            "NodeNetworks": None,
            "Devices": None,
            "NUMA": None,
            "MinDynamicPort": 20000,
            "MaxDynamicPort": 32000,
        }

    def computed_class(self) -> str:
        """``Node.ComputeClass``: a stable hash of what placement looks at."""
        digest = hashlib.blake2b(f"{self.node_class}|{self.datacenter}".encode(), digest_size=8)
        return f"v1:{int.from_bytes(digest.digest(), 'big')}"

    @property
    def drain(self) -> bool:
        return self.drain_strategy is not None

    def to_dict(self) -> dict[str, Any]:
        """``structs.Node`` as ``GET /v1/node/:id`` serves it (no ``Drain`` flag since 1.x)."""
        return {
            "ID": self.id,
            "SecretID": "",
            "Datacenter": self.datacenter,
            "Name": self.name,
            "CgroupParent": "",
            "HTTPAddr": "127.0.0.1:4646",
            "TLSEnabled": False,
            "Attributes": self.all_attributes(),
            "NodeResources": self._resources(),
            "ReservedResources": {
                "Cpu": {"CpuShares": 0, "ReservedCpuCores": None},
                "Memory": {"MemoryMB": 0},
                "Disk": {"DiskMB": 0},
                "Networks": {"ReservedHostPorts": ""},
            },
            "Links": None,
            "Meta": dict(self.meta),
            "NodeClass": self.node_class,
            "NodePool": self.node_pool,
            "ComputedClass": self.computed_class(),
            "DrainStrategy": copy.deepcopy(self.drain_strategy),
            "SchedulingEligibility": self.eligibility,
            "Status": self.status,
            "StatusDescription": "",
            "StatusUpdatedAt": self.registered_ns // 1_000_000_000,
            "Events": [dict(e) for e in self.events],
            "Drivers": self._drivers(),
            "CSIControllerPlugins": None,
            "CSINodePlugins": None,
            "HostVolumes": None,
            "GCVolumesOnNodeGC": False,
            "HostNetworks": None,
            "LastDrain": copy.deepcopy(self.last_drain),
            "NodeMaxAllocs": 0,
            "LastMissedHeartbeatIndex": 0,
            "LastAllocUpdateIndex": 0,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    def stub(self, *, resources: bool = False, os_attributes: bool = False) -> dict[str, Any]:
        """``NodeListStub`` (``?resources=true`` and ``?os=true`` add their fields)."""
        out: dict[str, Any] = {"Address": "127.0.0.1", "ID": self.id}
        if os_attributes:
            attrs = self.all_attributes()
            out["Attributes"] = {k: attrs[k] for k in ("os.name", "os.version") if k in attrs}
        out.update(
            Datacenter=self.datacenter,
            Name=self.name,
            NodePool=self.node_pool,
            NodeClass=self.node_class,
            Version=NOMAD_VERSION,
            Drain=self.drain,
            SchedulingEligibility=self.eligibility,
            Status=self.status,
            StatusDescription="",
            Drivers=self._drivers(),
            HostVolumes=None,
        )
        if resources:
            out["NodeResources"] = self._resources()
            out["ReservedResources"] = self.to_dict()["ReservedResources"]
        out.update(
            LastDrain=copy.deepcopy(self.last_drain),
            CreateIndex=self.create_index,
            ModifyIndex=self.modify_index,
        )
        return out


def node_event(message: str, time_ns: int, subsystem: str = "Cluster", **details: str) -> dict:
    """A ``NodeEvent`` (what ``nomad node status -verbose`` lists)."""
    return {
        "Message": message,
        "Subsystem": subsystem,
        "Details": details or None,
        "Timestamp": format_time(time_ns),
        "CreateIndex": 0,
    }


def make_event(type_: str, time_ns: int, **fields: Any) -> dict[str, Any]:
    """A ``TaskEvent`` with every field Nomad sends and its display message filled in.

    :param details: the ``Details`` map; other keyword arguments set the flat fields.
    """
    event = dict(TASK_EVENT_FIELDS, Type=type_, Time=time_ns)
    details = fields.pop("details", None) or {}
    event.update(fields)
    event["Details"] = details
    if not event["DisplayMessage"]:
        event["DisplayMessage"] = display_message(event)
    return event


def display_message(e: dict[str, Any]) -> str:
    """``TaskEvent.PopulateEventDisplayMessage`` for the event types the emulator emits."""
    kind = e["Type"]
    if kind == "Started":
        return "Task started by client"
    if kind == "Received":
        return "Task received by client"
    if kind == "Driver Failure":
        return e["DriverError"] or "Failed to start task"
    if kind == "Setup Failure":
        return e["SetupError"] or "Task setup failed"
    if kind == "Killing":
        if e["KillReason"]:
            return e["KillReason"]
        if e["KillTimeout"]:
            return (
                f"Sent interrupt. Waiting {format_duration(e['KillTimeout'])} before force killing"
            )
        return "Sent interrupt"
    if kind == "Killed":
        return e["KillError"] or "Task successfully killed"
    if kind == "Terminated":
        parts = [f"Exit Code: {e['ExitCode']}"]
        if e["Signal"]:
            parts.append(f"Signal: {e['Signal']}")
        if e["Message"]:
            parts.append(f"Exit Message: {quote(e['Message'])}")
        return ", ".join(parts)
    if kind == "Restarting":
        delay = f"Task restarting in {format_duration(e['StartDelay'])}"
        reason = e["RestartReason"]
        if reason and reason != "Restart within policy":
            return f"{reason} - {delay}"
        return delay
    if kind == "Not Restarting":
        return e["RestartReason"] or "Task exceeded restart policy"
    if kind == "Sibling Task Failed":
        if e["FailedSibling"]:
            return f"Task's sibling {quote(e['FailedSibling'])} failed"
        return "Task's sibling failed"
    if kind == "Signaling":
        sig, reason = e["TaskSignal"], e["TaskSignalReason"]
        if not sig:
            return reason or "Task being sent a signal"
        return (
            f"Task being sent signal {sig}: {reason}" if reason else f"Task being sent signal {sig}"
        )
    if kind == "Driver":
        return e["DriverMessage"]
    if kind == "Leader Task Dead":
        return "Leader Task in Group dead"
    return e["Message"]
