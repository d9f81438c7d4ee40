"""The Nomad emulator's model: the operations the HTTP handlers and the control API call.

It wires the state store, the scheduler and the emulated client together and implements the
write paths of ``nomad/job_endpoint.go`` (register, dispatch, deregister) with their checks
and error texts. Everything here runs on the event loop; nothing here parses HTTP.
"""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import uuid
from collections.abc import Iterable
from typing import Any

from . import deployments, errors, nodes
from .acl import Acl
from .clock import Clock, SystemClock
from .events import HEARTBEAT_SECONDS, EventBroker
from .job_shape import stored_job
from .jobspec.registration import canonicalize_job, spec_changed, validate_job, validate_update
from .logs import LogSignal
from .procs import ProcessSupervisor
from .records import (
    CLIENT_FAILED,
    JOB_DEAD,
    TRIGGER_ALLOC_STOP,
    TRIGGER_JOB_DEREGISTER,
    TRIGGER_JOB_REGISTER,
    TRIGGER_NODE_UPDATE,
    AllocRecord,
    EvalRecord,
    JobRecord,
    NodeRecord,
    node_event,
)
from .scheduler import Scheduler, failure_eval, reschedule_eligible
from .state import StateStore, Write
from .state_events import (
    ALLOCATION_UPDATE_DESIRED_STATUS,
    JOB_DEREGISTERED,
    JOB_REGISTERED,
    NODE_EVENT,
    events_of,
)
from .substitutes import Substitution, Substitutions, declaration_hint, unrunnable_tasks
from .taskrunner import AllocRunner, ClientServices
from .templates import TemplateData
from .versions import JobVersions
from .watch import WatchRegistry

_VAULT_KEY = ("vault", "secrets")
DEFAULT_NODE = {"name": "node-1", "cpu": 4000, "memory": 8192, "datacenter": "dc1"}


class NomadBackend:
    """All Nomad-side state and behaviour of one emulator.

    :param state_dir: where allocation directories live.
    :param acl: token store (enabled or not).
    :param clock: time source; :class:`SystemClock` unless a test injects another.
    :param region: the agent's region.
    :param node_name: the name of the node the emulator starts with (``nomad agent -node``).
    :param event_heartbeat: seconds between the ``{}`` heartbeats of ``/v1/event/stream``
        (Nomad's 30 s; tests shorten it).
    :param substitutions: driver substitutions declared at start; a reset keeps them.
    """

    def __init__(
        self,
        *,
        state_dir: str,
        acl: Acl,
        clock: Clock | None = None,
        region: str = "global",
        node_name: str = DEFAULT_NODE["name"],
        event_heartbeat: float = HEARTBEAT_SECONDS,
        substitutions: Iterable[Substitution] = (),
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.substitutions = Substitutions(substitutions)
        # Vault secrets a test declared, the only ones a template's `secret` can read.
        self.vault_secrets: dict[str, dict[str, Any]] = {}
        self.state_dir = state_dir
        self.acl = acl
        self.clock = clock or SystemClock()
        self.region = region
        self.watch = WatchRegistry()
        self.events = EventBroker()
        self.event_heartbeat = event_heartbeat
        self.node_name = node_name
        self.closed = asyncio.Event()
        self.supervisor = ProcessSupervisor(self.loop)
        self.services = ClientServices(
            self.clock,
            self.supervisor,
            region,
            self._log_signal,
            self._client_sync,
            self.substitutions,
            TemplateData(self._template_variable, self.vault_secrets.get, self._template_changed),
        )
        self._build(start_index=1)

    def _build(self, start_index: int) -> None:
        self.state = StateStore(self.watch, self.clock.now_ns)
        self.state.index = start_index
        self.state.on_commit = self._publish
        self.scheduler = Scheduler(
            self.state, self.clock, self._placed, self._stopped, self.substitutions
        )
        self.runners: dict[str, AllocRunner] = {}
        self._client_status: dict[str, str] = {}
        self._health: dict[str, Any] = {}
        self.versions = JobVersions(self.state)
        with self.state.write() as w:
            self.state.put_namespace(w, "default", "Default shared namespace")
        self.add_node(**dict(DEFAULT_NODE, name=self.node_name))

    @staticmethod
    def new_id() -> str:
        """A fresh object ID (UUID), as Nomad generates for evaluations, tokens, deployments."""
        return str(uuid.uuid4())

    def _publish(self, w: Write) -> None:
        self.events.publish(w.index, events_of(w))

    # -- lifecycle ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every job, allocation, evaluation, node, namespace and token; kill tasks."""
        for runner in self.runners.values():
            runner.abandon()
        self._cancel_health_timers()
        self.scheduler.close()
        shutil.rmtree(os.path.join(self.state_dir, "allocs"), ignore_errors=True)
        self.acl.reset()
        self.substitutions.reset()
        self.vault_secrets.clear()
        self.events.clear()
        self._build(start_index=self.state.index + 1)
        self.watch.fire_all()

    def shutdown(self) -> None:
        self.closed.set()
        self.events.close()
        self._cancel_health_timers()
        for runner in self.runners.values():
            runner.abandon()
        self.scheduler.close()
        self.supervisor.shutdown()
        self.watch.fire_all()

    # -- jobs -------------------------------------------------------------------------------------

    def register_job(self, raw: dict[str, Any], namespace: str, enforce: tuple | None) -> dict:
        """``Job.Register``: upsert the job and, unless it is a template, evaluate it."""
        job_spec = stored_job(canonicalize_job(raw, namespace=namespace, region=self.region))
        problems = validate_job(job_spec)
        if problems:
            raise errors.server_error(errors.multierror(problems))
        key = (namespace, job_spec["ID"])
        existing = self.state.jobs.get(key)
        self._check_enforce(existing, enforce)
        problem = validate_update(existing.spec if existing else None, job_spec)
        if problem:
            raise errors.server_error(problem)
        if namespace not in self.state.namespaces:
            raise errors.server_error(errors.nonexistent_namespace(job_spec["ID"], namespace))
        evaluate = not (job_spec.get("Periodic") or job_spec.get("ParameterizedJob"))
        warnings = self.driver_warnings(job_spec)
        if existing is None or spec_changed(existing.spec, job_spec):
            return dict(self._store_job(existing, job_spec, evaluate), Warnings=warnings)
        reply = _register_reply(job_modify_index=existing.job_modify_index)
        reply["Warnings"] = warnings
        if evaluate:
            with self.state.write() as w:
                w.event_type = JOB_REGISTERED
                ev = self._new_eval(existing, TRIGGER_JOB_REGISTER, existing.job_modify_index)
                self.state.put_eval(w, ev)
            reply.update(EvalID=ev.id, EvalCreateIndex=w.index, Index=w.index)
            self.scheduler.enqueue(ev)
        return reply

    def driver_warnings(self, job_spec: dict[str, Any]) -> str:
        """Register's ``Warnings``: each task no node and no substitution can run."""
        drivers = {d for n in self.state.nodes.values() for d in n.drivers}
        unrunnable = unrunnable_tasks(job_spec, drivers, self.substitutions)
        hints = [declaration_hint(task) for task in unrunnable]
        # helper.MergeMultierrorWarnings's format, as `nomad job run` prints it.
        return f"{len(hints)} warning(s):\n" + "".join(f"\n* {h}" for h in hints) if hints else ""

    # -- what task templates read -------------------------------------------------------------

    def _template_variable(self, namespace: str, path: str) -> dict[str, str] | None:
        variable = self.state.variables.get((namespace, path))
        return None if variable is None else dict(variable.items)

    async def _template_changed(self, timeout: float) -> bool:
        return await self.watch.wait([("table", "variables"), _VAULT_KEY], timeout)

    def put_vault_secret(self, path: str, data: dict[str, Any]) -> None:
        """Declare the ``Data`` a template's ``secret "path"`` reads (there is no Vault)."""
        if not isinstance(data, dict):
            raise ValueError("a Vault secret's data is a JSON object")
        self.vault_secrets[path.strip("/")] = dict(data)
        self.watch.fire([_VAULT_KEY])

    # -- driver substitutions (control API) -----------------------------------------------------

    def substitute(self, spec: dict[str, Any]) -> Substitution:
        """Declare a substitution; blocked evaluations get another pass, as when a node
        gains a driver."""
        substitution = self.substitutions.add(Substitution.from_dict(spec))
        self.scheduler.retry_blocked()
        return substitution

    def _check_enforce(self, existing: JobRecord | None, enforce: tuple | None) -> None:
        if enforce is None:
            return
        (index,) = enforce
        prefix = "Enforcing job modify index"
        if existing is not None and index == 0:
            raise errors.server_error(f"{prefix} 0: job already exists")
        if existing is not None and index != existing.job_modify_index:
            raise errors.server_error(
                f"{prefix} {index}: job exists with conflicting job modify index: "
                f"{existing.job_modify_index}"
            )
        if existing is None and index != 0:
            raise errors.server_error(f"{prefix} {index}: job does not exist")

    def _store_job(self, existing: JobRecord | None, spec: dict, evaluate: bool) -> dict:
        job = JobRecord(
            spec=spec,
            version=existing.version + 1 if existing else 0,
            submit_time=self.clock.now_ns(),
        )
        ev = None
        with self.state.write() as w:
            w.event_type = JOB_REGISTERED
            self.state.put_job(w, job)
            job.job_modify_index = w.index
            self.versions.record(job)
            if evaluate:
                ev = self._new_eval(job, TRIGGER_JOB_REGISTER, w.index)
                self.state.put_eval(w, ev)
        reply = _register_reply(job_modify_index=w.index, index=w.index)
        if ev is not None:
            reply.update(EvalID=ev.id, EvalCreateIndex=w.index)
            self.scheduler.enqueue(ev)
        return reply

    def _new_eval(self, job: JobRecord, trigger: str, job_modify_index: int, **kw) -> EvalRecord:
        return EvalRecord(
            id=str(uuid.uuid4()),
            namespace=job.namespace,
            job_id=job.id,
            type=kw.pop("type", job.type),
            priority=int(job.spec.get("Priority") or 50),
            triggered_by=trigger,
            job_modify_index=job_modify_index,
            **kw,
        )

    def deregister_job(self, namespace: str, job_id: str, purge: bool) -> dict:
        """``Job.Deregister``: stop (or purge) the job; an evaluation stops its allocations."""
        job = self.state.jobs.get((namespace, job_id))
        reply = {"EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": 0}
        reply.update(VolumeEvalID="", VolumeEvalIndex=0, Index=0, LastContact=0)
        reply.update(KnownLeader=False, NextToken="")
        if job is None:
            return reply
        ev = None
        with self.state.write() as w:
            w.event_type = JOB_DEREGISTERED
            if not (job.periodic or job.parameterized):
                ev = self._new_eval(job, TRIGGER_JOB_DEREGISTER, w.index, type="service")
                self.state.put_eval(w, ev)
            deployments.job_stopped(self.state, w, job.key, self.clock.now_ns())
            if purge:
                self.state.delete_job(w, job.key)
                self.versions.forget(job.key)
            else:
                # UpsertJob bumps the version on every upsert, a stop included.
                stopped = copy.copy(job)
                stopped.spec = dict(job.spec, Stop=True, Stable=False)
                stopped.version = job.version + 1
                stopped.job_modify_index = w.index
                self.state.put_job(w, stopped)
                self.versions.record(stopped)
        reply.update(JobModifyIndex=w.index, EvalCreateIndex=w.index, Index=w.index)
        if ev is not None:
            reply["EvalID"] = ev.id
            self.scheduler.enqueue(ev)
        return reply

    def evaluate_job(self, namespace: str, job_id: str) -> dict:
        """``Job.Evaluate``: a new ``job-register`` evaluation of the current version."""
        job = self.state.jobs.get((namespace, job_id))
        if job is None:
            raise errors.server_error("job not found")
        if job.periodic:
            raise errors.server_error("can't evaluate periodic job")
        if job.parameterized:
            raise errors.server_error("can't evaluate parameterized job")
        with self.state.write() as w:
            ev = self._new_eval(job, TRIGGER_JOB_REGISTER, job.job_modify_index)
            self.state.put_eval(w, ev)
        self.scheduler.enqueue(ev)
        reply = _register_reply(job_modify_index=job.modify_index, index=w.index)
        reply.update(EvalID=ev.id, EvalCreateIndex=w.index)
        return reply

    def stop_alloc(self, alloc: AllocRecord) -> dict:
        """``Alloc.Stop``: mark it for migration; the evaluation replaces it elsewhere."""
        job = self.state.jobs.get((alloc.namespace, alloc.job_id))
        with self.state.write() as w:
            w.event_type = ALLOCATION_UPDATE_DESIRED_STATUS
            alloc.desired_transition = dict(alloc.desired_transition, Migrate=True)
            self.state.put_alloc(w, alloc)
            ev = EvalRecord(
                id=self.new_id(),
                namespace=alloc.namespace,
                job_id=alloc.job_id,
                type=job.type if job else alloc.job.get("Type", "service"),
                priority=int((job.spec if job else alloc.job).get("Priority") or 50),
                triggered_by=TRIGGER_ALLOC_STOP,
                job_modify_index=job.job_modify_index if job else 0,
            )
            self.state.put_eval(w, ev)
        self.scheduler.enqueue(ev)
        return {"EvalID": ev.id, "Index": w.index}

    def dispatch(self, namespace: str, job_id: str, request: DispatchRequest) -> dict:
        """``Job.Dispatch``: validate, honour the idempotency token, create the child."""
        if not job_id:
            raise errors.server_error(errors.MISSING_PARAMETERIZED_JOB_ID)
        parent = self.state.jobs.get((namespace, job_id))
        if parent is None:
            raise errors.server_error(errors.PARAMETERIZED_JOB_NOT_FOUND)
        if not parent.parameterized:
            raise errors.server_error(errors.not_parameterized(job_id))
        if parent.stopped:
            raise errors.server_error(errors.job_stopped(job_id))
        _validate_dispatch(parent.parameterized, request)
        if request.idempotency_token:
            existing = self._dispatched_with_token(parent, request.idempotency_token)
            if existing is not None:
                return _dispatch_reply(
                    existing.id, "", 0, existing.create_index, existing.modify_index
                )
        child = self._child_job(parent, request)
        with self.state.write() as w:
            w.event_type = JOB_REGISTERED
            self.state.put_job(w, child)
            child.job_modify_index = w.index
            self.versions.record(child)
        create_index = w.index
        with self.state.write() as w:
            w.event_type = JOB_REGISTERED
            ev = self._new_eval(child, TRIGGER_JOB_REGISTER, create_index)
            self.state.put_eval(w, ev)
        self.scheduler.enqueue(ev)
        return _dispatch_reply(child.id, ev.id, w.index, create_index, w.index)

    def _dispatched_with_token(self, parent: JobRecord, token: str) -> JobRecord | None:
        for job in self.state.jobs_sorted(parent.namespace, parent.id):
            if job.parent_id == parent.id and job.spec.get("DispatchIdempotencyToken") == token:
                return job
        return None

    def _child_job(self, parent: JobRecord, request: DispatchRequest) -> JobRecord:
        now = self.clock.now_ns()
        suffix = f"{now // 1_000_000_000}-{uuid.uuid4().hex[:8]}"
        if request.id_prefix_template:
            suffix = f"{request.id_prefix_template}-{suffix}"
        child_id = f"{parent.id}/dispatch-{suffix}"
        spec = copy.deepcopy(parent.spec)
        meta = dict(spec.get("Meta") or {})
        meta.update(request.meta)
        spec.update(
            ID=child_id,
            Name=child_id,
            ParentID=parent.id,
            Dispatched=True,
            Status="",
            StatusDescription="",
            DispatchIdempotencyToken=request.idempotency_token,
            Meta=meta or None,
        )
        if request.priority:
            spec["Priority"] = request.priority
        return JobRecord(spec=spec, submit_time=now, payload=request.payload)

    # -- client side ------------------------------------------------------------------------------

    def _placed(self, alloc: AllocRecord) -> None:
        node = self.state.nodes.get(alloc.node_id)
        if node is None:
            return
        alloc_dir = os.path.join(self.state_dir, "allocs", alloc.id)
        runner = AllocRunner(self.services, alloc, node, alloc_dir)
        self.runners[alloc.id] = runner
        runner.start()

    def _stopped(self, alloc: AllocRecord) -> None:
        nodes.check_drain_complete(self, alloc.node_id)
        runner = self.runners.get(alloc.id)
        if runner is None:
            return
        if alloc.client_status == "lost":
            runner.abandon()
        elif not alloc.client_terminal:
            runner.kill()

    def _client_sync(self, alloc: AllocRecord) -> None:
        if self.state.allocs.get(alloc.id) is not alloc:
            return  # garbage-collected or reset meanwhile
        before = self._client_status.get(alloc.id)
        self._client_status[alloc.id] = alloc.client_status
        failure_eval = None
        if alloc.client_status == CLIENT_FAILED and before != CLIENT_FAILED:
            failure_eval = self._failure_eval(alloc)
        # One write, as ``Node.UpdateAlloc`` batches the failure with its evaluation: a reader
        # never sees the failed allocation without the evaluation that may reschedule it.
        with self.state.write() as w:
            self.state.put_alloc(w, alloc, from_client=True)
            if failure_eval is not None:
                self.state.put_eval(w, failure_eval)
        if failure_eval is not None:
            self.scheduler.enqueue(failure_eval)
        if alloc.deployment_id:
            self._watch_health(alloc)
        if alloc.client_terminal:
            nodes.check_drain_complete(self, alloc.node_id)

    def _cancel_health_timers(self) -> None:
        for timer in self._health.values():
            timer.cancel()
        self._health.clear()

    def _watch_health(self, alloc: AllocRecord) -> None:
        """The deployment watcher's view: healthy after ``min_healthy_time`` running."""
        deployment = self.state.deployments.get(alloc.deployment_id)
        if deployment is None or alloc.deployment_status is not None:
            return
        if alloc.client_status == CLIENT_FAILED or any(
            ts.failed for ts in alloc.task_states.values()
        ):
            deployments.set_health(self, deployment, alloc, healthy=False)
            return
        all_running = alloc.task_states and all(
            ts.state == "running" for ts in alloc.task_states.values()
        )
        if alloc.client_status != "running" or not all_running or alloc.id in self._health:
            return
        delay = deployment.min_healthy_ns.get(alloc.task_group, 0) / 1e9

        def judge() -> None:
            self._health.pop(alloc.id, None)
            if self.state.allocs.get(alloc.id) is alloc and alloc.client_status == "running":
                deployments.set_health(self, deployment, alloc, healthy=True)

        self._health[alloc.id] = self.clock.call_later(delay, judge)

    def _failure_eval(self, alloc: AllocRecord) -> EvalRecord | None:
        """The ``alloc-failure`` evaluation a failed allocation gets, if it may be rescheduled."""
        job = self.state.jobs.get((alloc.namespace, alloc.job_id))
        if job is None or alloc.followup_eval_id or alloc.desired_status != "run":
            return None
        if not reschedule_eligible(alloc, self.clock.now_ns()):
            return None
        return failure_eval(alloc, job)

    def _log_signal(self, alloc_id: str, task: str, log_type: str) -> LogSignal:
        key = ("logs", alloc_id, task, log_type)
        return LogSignal(self.loop, lambda: self.watch.fire((key,)))

    def alloc_dir(self, alloc_id: str) -> str:
        return os.path.join(self.state_dir, "allocs", alloc_id)

    # -- nodes, namespaces, GC (control API) -----------------------------------------------------

    def add_node(
        self,
        name: str,
        cpu: int = 4000,
        memory: int = 8192,
        drivers: tuple[str, ...] | list[str] = ("raw_exec", "exec", "mock_driver"),
        datacenter: str = "dc1",
        **extra: Any,
    ) -> NodeRecord:
        node = NodeRecord(
            id=str(uuid.uuid4()),
            name=name,
            datacenter=datacenter,
            cpu=int(cpu),
            memory=int(memory),
            drivers=tuple(drivers),
            node_class=extra.get("node_class", ""),
            attributes=dict(extra.get("attributes") or {}),
            meta=dict(extra.get("meta") or {}),
            registered_ns=self.clock.now_ns(),
        )
        node.events.append(node_event("Node registered", node.registered_ns))
        with self.state.write() as w:
            self.state.put_node(w, node)
        return node

    def set_node(self, node_id: str, **changes: Any) -> NodeRecord:
        node = self._node(node_id)
        for attr in ("cpu", "memory", "disk"):
            if changes.get(attr) is not None:
                setattr(node, attr, int(changes[attr]))
        if changes.get("drivers") is not None:
            node.drivers = tuple(changes["drivers"])
        if changes.get("meta") is not None:
            node.meta = dict(changes["meta"])
        if changes.get("status") is not None:
            node.status = changes["status"]
        with self.state.write() as w:
            self.state.put_node(w, node)
        return node

    def node_down(self, node_id: str) -> list[str]:
        """Mark a node down: its allocations become lost and are replaced elsewhere."""
        node = self._node(node_id)
        node_id = node.id  # the caller may have named the node instead
        node.status = "down"
        affected = {
            (a.namespace, a.job_id)
            for a in self.state.allocs.values()
            if a.node_id == node_id and not a.terminal
        }
        for alloc in self.state.allocs.values():
            runner = self.runners.get(alloc.id)
            if alloc.node_id == node_id and runner is not None and not alloc.terminal:
                runner.abandon()
        evals = []
        with self.state.write() as w:
            w.event_type = NODE_EVENT
            self.state.put_node(w, node)
            for namespace, job_id in sorted(affected):
                job = self.state.jobs.get((namespace, job_id))
                if job is None:
                    continue
                ev = self._new_eval(job, TRIGGER_NODE_UPDATE, job.job_modify_index, node_id=node_id)
                self.state.put_eval(w, ev)
                evals.append(ev)
        for ev in evals:
            self.scheduler.enqueue(ev)
        return [ev.id for ev in evals]

    def _node(self, node_id: str) -> NodeRecord:
        node = self.state.nodes.get(node_id) or next(
            (n for n in self.state.nodes.values() if n.name == node_id), None
        )
        if node is None:
            raise errors.not_found(f"node {node_id} not found")
        return node

    def create_namespace(self, name: str, description: str = "") -> dict:
        with self.state.write() as w:
            return self.state.put_namespace(w, name, description)

    def client_gc(self, alloc_ids: list[str]) -> None:
        """The client forgets terminal allocations: their directories (and logs) go away."""
        for alloc_id in alloc_ids:
            runner = self.runners.pop(alloc_id, None)
            if runner is not None:
                runner.destroy()
            else:
                shutil.rmtree(self.alloc_dir(alloc_id), ignore_errors=True)

    def collect_garbage(self) -> None:
        """``System.GarbageCollect`` (forced): every terminal allocation and dead job."""
        for namespace, job_id in sorted(self.state.jobs):
            self.gc_job(namespace, job_id)

    def gc_job(self, namespace: str, job_id: str) -> dict:
        """Garbage-collect a job's terminal allocations (and the job itself once dead)."""
        key = (namespace, job_id)
        removed = []
        with self.state.write() as w:
            for alloc in list(self.state.allocs_by_job.get(key, {}).values()):
                if not alloc.terminal:
                    continue
                runner = self.runners.pop(alloc.id, None)
                if runner is not None:
                    runner.destroy()
                else:
                    shutil.rmtree(self.alloc_dir(alloc.id), ignore_errors=True)
                self.state.delete_alloc(w, alloc)
                removed.append(alloc.id)
                w.keys.update(("logs", alloc.id, *rest) for rest in _log_keys(alloc))
            job = self.state.jobs.get(key)
            job_removed = False
            if job is None or (job.status == JOB_DEAD and not self.state.allocs_by_job.get(key)):
                for ev in list(self.state.evals_by_job.get(key, {}).values()):
                    if ev.terminal:
                        self.state.delete_eval(w, ev)
                if job is not None:
                    self.state.delete_job(w, key)
                    job_removed = True
        return {"Allocations": removed, "JobRemoved": job_removed}


def _log_keys(alloc: AllocRecord) -> list[tuple[str, str]]:
    tasks = alloc.task_states or {}
    return [(task, kind) for task in tasks for kind in ("stdout", "stderr")]


class DispatchRequest:
    """The decoded body of a dispatch request.

    :param payload: decoded payload bytes.
    :param meta: dispatch meta.
    :param id_prefix_template: ``IdPrefixTemplate``.
    :param idempotency_token: query parameter, or body key ``IdempotencyToken``.
    :param priority: ``Priority`` (0 keeps the parent's).
    """

    def __init__(
        self,
        payload: bytes = b"",
        meta: dict[str, str] | None = None,
        id_prefix_template: str = "",
        idempotency_token: str = "",
        priority: int = 0,
    ) -> None:
        self.payload = payload
        self.meta = meta or {}
        self.id_prefix_template = id_prefix_template
        self.idempotency_token = idempotency_token
        self.priority = priority


def _validate_dispatch(parameterized: dict[str, Any], request: DispatchRequest) -> None:
    """``validateDispatchRequest``, in Nomad's order."""
    mode = parameterized.get("Payload") or "optional"
    if mode == "required" and not request.payload:
        raise errors.server_error(errors.PAYLOAD_REQUIRED)
    if mode == "forbidden" and request.payload:
        raise errors.server_error(errors.PAYLOAD_FORBIDDEN)
    if len(request.payload) > errors.DISPATCH_PAYLOAD_SIZE_LIMIT:
        raise errors.server_error(errors.payload_too_large(len(request.payload)))
    required = set(parameterized.get("MetaRequired") or [])
    optional = set(parameterized.get("MetaOptional") or [])
    # Go ranges over maps in random order; Nomad's key lists come out in random order too.
    unpermitted = [k for k in request.meta if k not in required and k not in optional]
    if unpermitted:
        raise errors.server_error(errors.unpermitted_meta(unpermitted))
    missing = [k for k in parameterized.get("MetaRequired") or [] if k not in request.meta]
    if missing:
        raise errors.server_error(errors.missing_meta(missing))


def _register_reply(job_modify_index: int, index: int = 0) -> dict[str, Any]:
    return {
        "EvalID": "",
        "EvalCreateIndex": 0,
        "JobModifyIndex": job_modify_index,
        "Warnings": "",
        "Index": index,
        "LastContact": 0,
        "KnownLeader": False,
        "NextToken": "",
    }


def _dispatch_reply(job_id: str, eval_id: str, eval_index: int, create: int, index: int) -> dict:
    return {
        "DispatchedJobID": job_id,
        "EvalID": eval_id,
        "EvalCreateIndex": eval_index,
        "JobCreateIndex": create,
        "Index": index,
    }
