"""The emulator's state store: tables, Raft-like indexes, derived job status and summaries.

Modelled on ``nomad/state/state_store.go``: every write gets the next index; the tables it
touched take that index (what list endpoints report); rows carry create/modify indexes (what
single-object endpoints report); job status and summaries are re-derived inside the write, and
the watch keys of everything touched fire at commit so blocked readers wake up.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .records import (
    CLIENT_COMPLETE,
    CLIENT_FAILED,
    CLIENT_LOST,
    CLIENT_PENDING,
    CLIENT_RUNNING,
    JOB_DEAD,
    JOB_PENDING,
    JOB_RUNNING,
    SUMMARY_FIELDS,
    AllocRecord,
    EvalRecord,
    JobRecord,
    JobSummary,
    NodeRecord,
)
from .watch import WatchRegistry

JobKey = tuple[str, str]

TABLES = (
    "jobs",
    "job_summary",
    "evals",
    "allocs",
    "nodes",
    "namespaces",
    "deployment",
    "variables",
    "acl_token",
    "acl_policy",
)

_SUMMARY_FIELD_BY_STATUS = {
    CLIENT_PENDING: "Starting",
    CLIENT_RUNNING: "Running",
    CLIENT_COMPLETE: "Complete",
    CLIENT_FAILED: "Failed",
    CLIENT_LOST: "Lost",
    "unknown": "Unknown",
}
_CHILD_FIELD = {JOB_PENDING: "Pending", JOB_RUNNING: "Running", JOB_DEAD: "Dead"}


@dataclass
class Write:
    """What one write touched; committed by :meth:`StateStore.write`."""

    index: int
    tables: set[str] = field(default_factory=set)
    keys: set[Hashable] = field(default_factory=set)
    jobs: set[JobKey] = field(default_factory=set)
    freed_capacity: bool = False
    #: The Raft message type this write stands for (names its events); None: inferred.
    event_type: str | None = None
    #: (table, id) -> (row, deleted, from_client): the last change of each row, in order.
    changes: dict[tuple[str, Any], tuple[Any, bool, bool]] = field(default_factory=dict)

    def changed(self, table: str, key: Any, row: Any, *, deleted=False, client=False) -> None:
        """Note a row change for the event stream (go-memdb keeps one change per object)."""
        self.changes.pop((table, key), None)
        self.changes[(table, key)] = (row, deleted, client)


class StateStore:
    """All emulated cluster state. Single-threaded: only the event loop touches it.

    :param watch: where commits fire the keys they touched.
    """

    def __init__(self, watch: WatchRegistry, now_ns: Callable[[], int]) -> None:
        self.watch = watch
        self.now_ns = now_ns
        self.index = 1
        self.table_index = dict.fromkeys(TABLES, 1)
        self.jobs: dict[JobKey, JobRecord] = {}
        self.summaries: dict[JobKey, JobSummary] = {}
        self.evals: dict[str, EvalRecord] = {}
        self.allocs: dict[str, AllocRecord] = {}
        # Whether each alloc was terminal at its last write, and what live allocs use per
        # node: kept incrementally so placement never scans every allocation.
        self._terminal_allocs: dict[str, bool] = {}
        self._node_used: dict[str, list[int]] = {}
        self.allocs_by_job: dict[JobKey, dict[str, AllocRecord]] = {}
        self.evals_by_job: dict[JobKey, dict[str, EvalRecord]] = {}
        self.nodes: dict[str, NodeRecord] = {}
        self.namespaces: dict[str, dict] = {}
        self.on_capacity_freed: list[Callable[[], None]] = []
        #: Called with each committed write that changed rows (the event stream's source).
        self.on_commit: Callable[[Write], None] | None = None
        self.deployments: dict[str, Any] = {}
        self.variables: dict[tuple[str, str], Any] = {}

    # -- writes ---------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Write]:
        """One atomic write: yields a :class:`Write`, then derives statuses and fires watches."""
        self.index += 1
        w = Write(self.index)
        yield w
        for key in sorted(w.jobs):
            self._refresh_job(w, key)
        for table in w.tables:
            self.table_index[table] = w.index
            w.keys.add(("table", table))
        self.watch.fire(w.keys)
        if w.changes and self.on_commit is not None:
            self.on_commit(w)
        if w.freed_capacity:
            for callback in self.on_capacity_freed:
                callback()

    def put_namespace(self, w: Write, name: str, description: str = "") -> dict:
        ns = self.namespaces.get(name)
        if ns is None:
            ns = {"Name": name, "Description": description, "CreateIndex": w.index}
            self.namespaces[name] = ns
        ns.update(Description=description or ns["Description"], ModifyIndex=w.index)
        w.tables.add("namespaces")
        return ns

    def put_node(self, w: Write, node: NodeRecord) -> None:
        if node.id not in self.nodes:
            node.create_index = w.index
        node.modify_index = w.index
        self.nodes[node.id] = node
        w.changed("nodes", node.id, node)
        w.tables.add("nodes")
        w.keys.add(("node", node.id))
        w.freed_capacity = True

    def put_job(self, w: Write, job: JobRecord) -> None:
        existing = self.jobs.get(job.key)
        job.create_index = existing.create_index if existing else w.index
        job.modify_index = w.index
        if existing is None:
            job.status = ""
        else:
            job.status = existing.status
        self.jobs[job.key] = job
        if job.key not in self.summaries:
            summary = JobSummary(job.id, job.namespace, create_index=w.index)
            self.summaries[job.key] = summary
        self._touch_job(w, job.key)

    def delete_job(self, w: Write, key: JobKey) -> None:
        job = self.jobs.pop(key, None)
        if job is None:
            return
        self.summaries.pop(key, None)
        w.changed("jobs", key, job, deleted=True)
        self._count_child(w, job, job.status, None)
        w.tables.update(("jobs", "job_summary"))
        w.keys.update((("job", *key), ("summary", *key)))

    def put_eval(self, w: Write, ev: EvalRecord) -> None:
        now = self.now_ns()
        if ev.id not in self.evals:
            ev.create_index = w.index
            ev.create_time = ev.create_time or now
        ev.modify_index = w.index
        ev.modify_time = now
        self.evals[ev.id] = ev
        key = (ev.namespace, ev.job_id)
        self.evals_by_job.setdefault(key, {})[ev.id] = ev
        w.changed("evals", ev.id, ev)
        summary = self.summaries.get(key)
        if summary is not None and ev.queued_allocations is not None:
            for group, queued in ev.queued_allocations.items():
                counts = summary.groups.setdefault(group, dict.fromkeys(SUMMARY_FIELDS, 0))
                counts["Queued"] = queued
        w.tables.add("evals")
        w.keys.update((("eval", ev.id), ("job_evals", *key)))
        w.jobs.add(key)

    def delete_eval(self, w: Write, ev: EvalRecord) -> None:
        self.evals.pop(ev.id, None)
        self.evals_by_job.get((ev.namespace, ev.job_id), {}).pop(ev.id, None)
        w.tables.add("evals")
        w.keys.update((("eval", ev.id), ("job_evals", ev.namespace, ev.job_id)))

    def put_deployment(self, w: Write, deployment: Any) -> None:
        if deployment.id not in self.deployments:
            deployment.create_index = w.index
        deployment.modify_index = w.index
        self.deployments[deployment.id] = deployment
        w.changed("deployment", deployment.id, deployment)
        w.tables.add("deployment")
        w.keys.update((("deployment", deployment.id), ("job_deployments", *deployment.job_key)))

    def job_deployments(self, key: JobKey) -> list[Any]:
        """A job's deployments, newest first (``DeploymentsByJobID`` sorted by create index)."""
        found = [d for d in self.deployments.values() if d.job_key == key]
        return sorted(found, key=lambda d: d.create_index, reverse=True)

    def put_variable(self, w: Write, variable: Any) -> None:
        key = (variable.namespace, variable.path)
        if key not in self.variables:
            variable.create_index = w.index
        variable.modify_index = w.index
        self.variables[key] = variable
        w.changed("variables", key, variable)
        w.tables.add("variables")

    def delete_variable(self, w: Write, variable: Any) -> None:
        key = (variable.namespace, variable.path)
        if self.variables.pop(key, None) is not None:
            w.changed("variables", key, variable, deleted=True)
            w.tables.add("variables")

    def put_alloc(self, w: Write, alloc: AllocRecord, *, from_client: bool = False) -> None:
        previous = self.allocs.get(alloc.id)
        now = self.now_ns()
        if previous is None:
            alloc.create_index = w.index
            alloc.create_time = alloc.create_time or now
        alloc.modify_time = now
        was_terminal = self._terminal_allocs.get(alloc.id, True)
        self._terminal_allocs[alloc.id] = alloc.terminal
        if was_terminal != alloc.terminal:
            self._count_usage(alloc, -1 if alloc.terminal else 1)
        alloc.modify_index = w.index
        if not from_client:
            alloc.alloc_modify_index = w.index
        self.allocs[alloc.id] = alloc
        key = (alloc.namespace, alloc.job_id)
        self.allocs_by_job.setdefault(key, {})[alloc.id] = alloc
        w.changed("allocs", alloc.id, alloc, client=from_client)
        w.tables.add("allocs")
        w.keys.update((("alloc", alloc.id), ("job_allocs", *key)))
        w.jobs.add(key)
        if alloc.terminal and not was_terminal and previous is not None:
            w.freed_capacity = True

    def delete_alloc(self, w: Write, alloc: AllocRecord) -> None:
        self.allocs.pop(alloc.id, None)
        if not self._terminal_allocs.pop(alloc.id, True):
            self._count_usage(alloc, -1)
        key = (alloc.namespace, alloc.job_id)
        self.allocs_by_job.get(key, {}).pop(alloc.id, None)
        w.tables.add("allocs")
        w.keys.update((("alloc", alloc.id), ("job_allocs", *key)))
        w.jobs.add(key)

    # -- derived state ----------------------------------------------------------------------

    def _touch_job(self, w: Write, key: JobKey) -> None:
        job = self.jobs.get(key)
        if job is not None:
            w.changed("jobs", key, job)
        w.tables.add("jobs")
        w.keys.add(("job", *key))
        w.jobs.add(key)

    def _refresh_job(self, w: Write, key: JobKey) -> None:
        job = self.jobs.get(key)
        if job is None:
            return
        status = self.derive_status(job)
        if status != job.status:
            old = job.status
            job.status = status
            job.modify_index = w.index
            self._touch_job(w, key)
            self._count_child(w, job, old, status)
        self._refresh_summary(w, key)

    def derive_status(self, job: JobRecord) -> str:
        """``getJobStatus``: running / pending / dead; there is no "failed"."""
        allocs = self.allocs_by_job.get(job.key, {}).values()
        if any(not a.terminal for a in allocs):
            return JOB_RUNNING
        evals = self.evals_by_job.get(job.key, {}).values()
        if any(not e.terminal for e in evals):
            return JOB_PENDING
        if job.type == "system":
            return JOB_DEAD if job.stopped else JOB_RUNNING
        if evals or allocs:
            return JOB_DEAD
        if job.periodic or job.parameterized:
            return JOB_DEAD if job.stopped else JOB_RUNNING
        return JOB_PENDING

    def _count_child(self, w: Write, job: JobRecord, old: str | None, new: str | None) -> None:
        if not job.parent_id:
            return
        parent_key = (job.namespace, job.parent_id)
        summary = self.summaries.get(parent_key)
        if summary is None:
            return
        if old in _CHILD_FIELD:
            summary.children[_CHILD_FIELD[old]] -= 1
        if new in _CHILD_FIELD:
            summary.children[_CHILD_FIELD[new]] += 1
        summary.modify_index = w.index
        w.tables.add("job_summary")
        w.keys.add(("summary", *parent_key))

    def _refresh_summary(self, w: Write, key: JobKey) -> None:
        summary = self.summaries.get(key)
        job = self.jobs.get(key)
        if summary is None or job is None:
            return
        groups: dict[str, dict[str, int]] = {}
        for group in job.task_groups:
            queued = summary.groups.get(group["Name"], {}).get("Queued", 0)
            groups[group["Name"]] = dict.fromkeys(SUMMARY_FIELDS, 0) | {"Queued": queued}
        for alloc in self.allocs_by_job.get(key, {}).values():
            counts = groups.setdefault(alloc.task_group, dict.fromkeys(SUMMARY_FIELDS, 0))
            counts[_SUMMARY_FIELD_BY_STATUS.get(alloc.client_status, "Unknown")] += 1
        if groups != summary.groups or summary.modify_index == 0:
            summary.groups = groups
            summary.modify_index = w.index
            w.tables.add("job_summary")
            w.keys.add(("summary", *key))

    # -- reads --------------------------------------------------------------------------------

    def job_allocs(self, key: JobKey, *, any_create_index: bool = False) -> list[AllocRecord]:
        """``AllocsByJob``: sorted by ID; allocs of an earlier job with this ID are skipped."""
        job = self.jobs.get(key)
        allocs = self.allocs_by_job.get(key, {}).values()
        if job is not None and not any_create_index:
            allocs = [a for a in allocs if a.job_create_index == job.create_index]
        return sorted(allocs, key=lambda a: a.id)

    def job_evals(self, key: JobKey) -> list[EvalRecord]:
        return sorted(self.evals_by_job.get(key, {}).values(), key=lambda e: e.id)

    def jobs_sorted(self, namespace: str, prefix: str = "") -> list[JobRecord]:
        """Jobs in ``namespace`` (``*`` for all) whose ID starts with ``prefix``."""
        out = [
            job
            for (ns, job_id), job in self.jobs.items()
            if (namespace == "*" or ns == namespace) and job_id.startswith(prefix)
        ]
        return sorted(out, key=lambda j: j.key)

    def _count_usage(self, alloc: AllocRecord, sign: int) -> None:
        used = self._node_used.setdefault(alloc.node_id, [0, 0, 0])
        for res in alloc.task_resources.values():
            used[0] += sign * res["CPU"]
            used[1] += sign * res["MemoryMB"]
        used[2] += sign * alloc.disk_mb

    def node_usage(self, node_id: str) -> tuple[int, int, int]:
        """CPU, memory and disk used on a node by its non-terminal allocations."""
        cpu, memory, disk = self._node_used.get(node_id, (0, 0, 0))
        return cpu, memory, disk
