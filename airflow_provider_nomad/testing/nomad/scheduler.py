"""Evaluations: the batch scheduler's reconcile, rescheduling and blocked evaluations.

After ``scheduler/generic_sched.go`` and ``reconcile.go``, for what batch jobs need: place
missing allocations; stop allocations of a stopped job; replace lost ones; reschedule failed
ones per the reschedule policy, now if the reschedule time is within a second, else through a
follow-up evaluation with ``WaitUntil``; record placement failures on the evaluation
(``FailedTGAllocs``, ``QueuedAllocations``) with a ``blocked`` evaluation that is retried
whenever capacity frees up.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import clock as clocks
from . import deployments
from .placement import MISSING_DRIVERS, Need, select_node
from .records import (
    CLIENT_FAILED,
    CLIENT_LOST,
    DESC_BLOCKED_EVAL,
    DESC_FOLLOWUP_EVAL,
    DESC_LOST,
    DESC_MIGRATING,
    DESC_NOT_NEEDED,
    DESC_RESCHEDULED,
    DESC_UPDATING,
    DESIRED_RUN,
    DESIRED_STOP,
    EVAL_BLOCKED,
    EVAL_CANCELED,
    EVAL_COMPLETE,
    EVAL_PENDING,
    TRIGGER_ALLOC_FAILURE,
    TRIGGER_QUEUED_ALLOCS,
    AllocRecord,
    EvalRecord,
    JobRecord,
)
from .state import StateStore, Write
from .substitutes import Substitutions, warn_unrunnable

RESCHEDULE_WINDOW_NS = 1_000_000_000  # reconcile.go: rescheduleWindowSize
_UNBLOCK = "<unblock>"


@dataclass
class Placement:
    name: str
    group: dict[str, Any]
    previous: AllocRecord | None = None
    reschedule: bool = False


@dataclass
class Plan:
    stops: list[tuple[AllocRecord, str, str | None]] = field(default_factory=list)
    places: list[Placement] = field(default_factory=list)
    followups: list[tuple[AllocRecord, int]] = field(default_factory=list)


def reschedule_policy(alloc: AllocRecord) -> dict[str, Any]:
    group = next(
        (g for g in alloc.job.get("TaskGroups") or [] if g.get("Name") == alloc.task_group), {}
    )
    return group.get("ReschedulePolicy") or {}


def next_delay(alloc: AllocRecord, policy: dict[str, Any]) -> int:
    """``Allocation.NextDelay``."""
    delay = int(policy.get("Delay") or 0)
    events = alloc.reschedule_events or []
    if not events:
        return delay
    function = policy.get("DelayFunction") or "constant"
    max_delay = int(policy.get("MaxDelay") or 0)
    if function == "exponential":
        delay = int(events[-1]["Delay"]) * 2
    elif function == "fibonacci" and len(events) >= 2:
        last, before = int(events[-1]["Delay"]), int(events[-2]["Delay"])
        delay = (
            last
            if (before == max_delay and last == int(policy.get("Delay") or 0))
            else last + before
        )
    elif function not in ("exponential", "fibonacci"):
        return delay
    if max_delay and delay > max_delay:
        delay = max_delay
        if alloc.last_event_time_ns() - int(events[-1]["RescheduleTime"]) > delay:
            delay = int(policy.get("Delay") or 0)
    return delay


def _attempted(alloc: AllocRecord, policy: dict[str, Any], fail_time: int) -> int:
    interval = int(policy.get("Interval") or 0)
    return sum(
        1 for e in alloc.reschedule_events or [] if fail_time - int(e["RescheduleTime"]) < interval
    )


def reschedule_eligible(alloc: AllocRecord, now_ns: int) -> bool:
    """``RescheduleTracker.RescheduleEligible``: attempts left in the interval."""
    policy = reschedule_policy(alloc)
    attempts = int(policy.get("Attempts") or 0)
    if policy.get("Unlimited"):
        return True
    if attempts <= 0:
        return False
    if not alloc.reschedule_events:
        return True
    return _attempted(alloc, policy, now_ns) < attempts


def next_reschedule_time(alloc: AllocRecord) -> tuple[int, bool]:
    """``Allocation.NextRescheduleTime``: (time in ns, eligible)."""
    policy = reschedule_policy(alloc)
    fail_time = alloc.last_event_time_ns()
    if alloc.desired_status == DESIRED_STOP or alloc.client_status != CLIENT_FAILED:
        return 0, False
    if not fail_time or not policy:
        return 0, False
    delay = next_delay(alloc, policy)
    attempts = int(policy.get("Attempts") or 0)
    eligible = bool(policy.get("Unlimited")) or (attempts > 0 and not alloc.reschedule_events)
    if attempts > 0 and alloc.reschedule_events:
        interval = int(policy.get("Interval") or 0)
        eligible = _attempted(alloc, policy, fail_time) < attempts and delay < interval
    return fail_time + delay, eligible


class Scheduler:
    """Processes evaluations one at a time on the event loop.

    :param state: the state store.
    :param clock: time for reschedule decisions and ``WaitUntil`` timers.
    :param placed: called with each new allocation once it is committed.
    :param stopped: called with each allocation the server stopped, once committed.
    :param substitutions: declared driver substitutions, which make their tasks placeable.
    """

    def __init__(
        self,
        state: StateStore,
        clock: clocks.Clock,
        placed: Callable[[AllocRecord], None],
        stopped: Callable[[AllocRecord], None],
        substitutions: Substitutions | None = None,
    ) -> None:
        self.state = state
        self.substitutions = substitutions
        self.clock = clock
        self.placed = placed
        self.stopped = stopped
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._timers: dict[str, clocks.Timer] = {}
        self._unblock_pending = False
        # Set while evaluations are processed; cleared by :meth:`hold` (a busy scheduler).
        self._running = asyncio.Event()
        self._running.set()
        # The keyring's active key: Nomad signs every allocation's workload identities with
        # it and names it in the allocation's SigningKeyID.
        self.signing_key_id = str(uuid.uuid4())
        self._worker = asyncio.ensure_future(self._work())
        state.on_capacity_freed.append(self._capacity_freed)

    def close(self) -> None:
        self._worker.cancel()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def reset(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._running.set()

    def hold(self, held: bool) -> None:
        """Leave evaluations pending until released: what a busy Nomad scheduler does.

        A real cluster's evaluations wait in the broker for a scheduler worker; in between,
        the writes that created them (a failed allocation and its ``alloc-failure``
        evaluation) are visible and their outcome (the replacement) is not.
        """
        if held:
            self._running.clear()
        else:
            self._running.set()

    def enqueue(self, ev: EvalRecord) -> None:
        """Process ``ev`` now, or at its ``WaitUntil``."""
        delay = (ev.wait_until_ns - self.clock.now_ns()) / 1e9 if ev.wait_until_ns else 0
        if delay > 0:
            self._timers[ev.id] = self.clock.call_later(delay, lambda: self._due(ev.id))
        else:
            self._queue.put_nowait(ev.id)

    def _due(self, eval_id: str) -> None:
        self._timers.pop(eval_id, None)
        self._queue.put_nowait(eval_id)

    def retry_blocked(self) -> None:
        """What a node gaining a driver does: blocked evaluations get another pass."""
        self._capacity_freed()

    def _capacity_freed(self) -> None:
        # Coalesced: one pass over the blocked evaluations however many allocs just ended.
        if not self._unblock_pending:
            self._unblock_pending = True
            self._queue.put_nowait(_UNBLOCK)

    def _unblock(self) -> None:
        """Retry blocked evaluations, oldest first, skipping those that cannot fit anywhere."""
        self._unblock_pending = False
        blocked = [e for e in self.state.evals.values() if e.status == EVAL_BLOCKED]
        for ev in sorted(blocked, key=lambda e: e.create_index):
            if self._might_fit(ev):
                self.process(ev.id)

    def _might_fit(self, ev: EvalRecord) -> bool:
        job = self.state.jobs.get((ev.namespace, ev.job_id))
        if job is None or job.stopped:
            return True
        ready = [
            n
            for n in self.state.nodes.values()
            if n.status == "ready" and n.eligibility == "eligible"
        ]
        for group_name in ev.failed_tg_allocs or {}:
            group = job.group(group_name)
            if group is None:
                return True
            need = Need.of(group)
            for node in ready:
                cpu, memory, disk = self.state.node_usage(node.id)
                fits = cpu + need.cpu <= node.cpu and memory + need.memory <= node.memory
                if fits and disk + need.disk <= node.disk:
                    return True
        return False

    async def _work(self) -> None:
        while True:
            eval_id = await self._queue.get()
            await self._running.wait()
            if eval_id is _UNBLOCK:
                self._unblock()
            else:
                self.process(eval_id)

    def process(self, eval_id: str) -> None:
        ev = self.state.evals.get(eval_id)
        if ev is None or ev.status not in (EVAL_PENDING, EVAL_BLOCKED):
            return
        job = self.state.jobs.get((ev.namespace, ev.job_id))
        created: list[AllocRecord] = []
        followups: list[EvalRecord] = []
        with self.state.write() as w:
            plan = self._reconcile(job, ev)
            self._apply_stops(w, plan)
            failed = self._apply_places(w, job, ev, plan, created)
            followups = self._apply_followups(w, ev, plan)
            self._finish_eval(w, job, ev, failed)
        for ev_next in followups:
            self.enqueue(ev_next)
        for alloc, _, _ in plan.stops:
            self.stopped(alloc)
        for alloc in created:
            self.placed(alloc)

    # -- reconcile ------------------------------------------------------------------------------

    def _reconcile(self, job: JobRecord | None, ev: EvalRecord) -> Plan:
        plan = Plan()
        key = (ev.namespace, ev.job_id)
        allocs = self.state.job_allocs(key, any_create_index=job is None)
        if job is None or job.stopped:
            for alloc in allocs:
                if not alloc.terminal:
                    plan.stops.append((alloc, DESC_NOT_NEEDED, None))
            return plan
        latest = {a.name: a for a in sorted(allocs, key=lambda a: a.create_index)}
        now = self.clock.now_ns()
        for group in job.task_groups:
            for index in range(int(group.get("Count", 1))):
                name = f"{job.id}.{group['Name']}[{index}]"
                self._reconcile_one(plan, group, name, latest.get(name), ev, now)
        return plan

    def _reconcile_one(
        self,
        plan: Plan,
        group: dict[str, Any],
        name: str,
        alloc: AllocRecord | None,
        ev: EvalRecord,
        now: int,
    ) -> None:
        if alloc is None:
            plan.places.append(Placement(name, group))
            return
        if alloc.next_allocation:
            return
        if alloc.server_terminal and alloc.client_status not in (CLIENT_LOST, CLIENT_FAILED):
            # Stopped by the server (job stopped, migrated away): the reconciler filters
            # such allocations out, so the name is free for a new placement.
            plan.places.append(Placement(name, group))
            return
        if not alloc.terminal and alloc.desired_transition.get("Migrate"):
            plan.stops.append((alloc, DESC_MIGRATING, None))
            plan.places.append(Placement(name, group, previous=alloc))
            return
        if not alloc.terminal and self._job_updated(alloc):
            plan.stops.append((alloc, DESC_UPDATING, None))
            plan.places.append(Placement(name, group, previous=alloc))
            return
        node = self.state.nodes.get(alloc.node_id)
        if not alloc.terminal and (node is None or node.status == "down"):
            plan.stops.append((alloc, DESC_LOST, CLIENT_LOST))
            plan.places.append(Placement(name, group, previous=alloc))
            return
        if alloc.client_status == CLIENT_LOST and alloc.desired_status == DESIRED_STOP:
            plan.places.append(Placement(name, group, previous=alloc))
            return
        when, eligible = next_reschedule_time(alloc)
        if not eligible:
            return
        if alloc.followup_eval_id == ev.id or when - now <= RESCHEDULE_WINDOW_NS:
            plan.places.append(Placement(name, group, previous=alloc, reschedule=True))
        elif not alloc.followup_eval_id:
            plan.followups.append((alloc, when))

    def _job_updated(self, alloc: AllocRecord) -> bool:
        """A newer version of the job than the allocation runs: a destructive update."""
        job = self.state.jobs.get((alloc.namespace, alloc.job_id))
        return job is not None and job.job_modify_index > int(alloc.job.get("JobModifyIndex", 0))

    # -- apply ----------------------------------------------------------------------------------

    def _apply_stops(self, w: Write, plan: Plan) -> None:
        for alloc, description, client_status in plan.stops:
            alloc.desired_status = DESIRED_STOP
            alloc.desired_description = description
            if client_status:
                alloc.client_status = client_status
                alloc.client_description = ""
            self.state.put_alloc(w, alloc)

    def _apply_places(
        self,
        w: Write,
        job: JobRecord | None,
        ev: EvalRecord,
        plan: Plan,
        created: list[AllocRecord],
    ) -> dict[str, dict[str, Any]]:
        failed: dict[str, dict[str, Any]] = {}
        if job is None:
            return failed
        nodes = list(self.state.nodes.values())
        usage = {n.id: self.state.node_usage(n.id) for n in nodes}
        deployment = None
        if plan.places:
            deployment = deployments.for_placement(
                self.state, w, job, str(uuid.uuid4()), self.clock.now_ns()
            )
        for place in plan.places:
            group_name = place.group["Name"]
            if group_name in failed:
                failed[group_name]["CoalescedFailures"] += 1
                continue
            node, metrics = select_node(job, place.group, nodes, usage, self.substitutions)
            if node is None:
                failed[group_name] = metrics
                if self.substitutions is not None and MISSING_DRIVERS in (
                    metrics["ConstraintFiltered"] or {}
                ):
                    # Nomad's metrics only say "missing drivers": say which, and the cure.
                    drivers = {d for n in nodes for d in n.drivers}
                    warn_unrunnable(job.spec, drivers, self.substitutions)
                continue
            need = Need.of(place.group)
            cpu, memory, disk = usage[node.id]
            usage[node.id] = (cpu + need.cpu, memory + need.memory, disk + need.disk)
            alloc = self._new_alloc(job, ev, place, node, need, metrics)
            if deployment is not None:
                deployments.placed(self.state, w, deployment, alloc)
            self.state.put_alloc(w, alloc)
            created.append(alloc)
            if place.previous is not None:
                self._link_previous(w, place, alloc)
        return failed

    def _new_alloc(self, job, ev, place: Placement, node, need: Need, metrics) -> AllocRecord:
        events = None
        if place.reschedule and place.previous is not None:
            prev = place.previous
            event = {
                "RescheduleTime": self.clock.now_ns(),
                "PrevAllocID": prev.id,
                "PrevNodeID": prev.node_id,
                "Delay": next_delay(prev, reschedule_policy(prev)),
            }
            events = [*(prev.reschedule_events or []), event]
        return AllocRecord(
            id=str(uuid.uuid4()),
            namespace=job.namespace,
            eval_id=ev.id,
            name=place.name,
            node_id=node.id,
            node_name=node.name,
            job_id=job.id,
            job=job.to_dict(),
            job_create_index=job.create_index,
            task_group=place.group["Name"],
            task_resources=need.tasks,
            disk_mb=need.disk,
            metrics=metrics,
            previous_allocation=place.previous.id if place.previous is not None else "",
            reschedule_events=events,
            signing_key_id=self.signing_key_id,
        )

    def _link_previous(self, w: Write, place: Placement, alloc: AllocRecord) -> None:
        prev = place.previous
        prev.next_allocation = alloc.id
        if place.reschedule:
            prev.desired_status = DESIRED_STOP
            prev.desired_description = DESC_RESCHEDULED
        self.state.put_alloc(w, prev)

    def _apply_followups(self, w: Write, ev: EvalRecord, plan: Plan) -> list[EvalRecord]:
        created = []
        for alloc, when in plan.followups:
            followup = EvalRecord(
                id=str(uuid.uuid4()),
                namespace=ev.namespace,
                job_id=ev.job_id,
                type=ev.type,
                priority=ev.priority,
                triggered_by=TRIGGER_ALLOC_FAILURE,
                status=EVAL_PENDING,
                status_description=DESC_FOLLOWUP_EVAL,
                job_modify_index=ev.job_modify_index,
                previous_eval=ev.id,
                wait_until_ns=when,
            )
            self.state.put_eval(w, followup)
            alloc.followup_eval_id = followup.id
            self.state.put_alloc(w, alloc)
            created.append(followup)
        return created

    def _finish_eval(
        self, w: Write, job: JobRecord | None, ev: EvalRecord, failed: dict[str, dict[str, Any]]
    ) -> None:
        ev.snapshot_index = w.index - 1
        if ev.status == EVAL_BLOCKED and failed:
            ev.failed_tg_allocs = failed
            self.state.put_eval(w, ev)
            return
        groups = job.task_groups if job is not None else []
        ev.queued_allocations = {g["Name"]: 0 for g in groups}
        for name, metrics in failed.items():
            ev.queued_allocations[name] = 1 + metrics["CoalescedFailures"]
        ev.failed_tg_allocs = failed or None
        ev.status = EVAL_COMPLETE
        if failed and job is not None:
            ev.blocked_eval = self._block(w, ev, failed).id
        if job is None or job.stopped:
            self._cancel_blocked(w, ev.namespace, ev.job_id, keep=None)
        self.state.put_eval(w, ev)

    def _block(self, w: Write, ev: EvalRecord, failed: dict[str, dict[str, Any]]) -> EvalRecord:
        blocked = EvalRecord(
            id=str(uuid.uuid4()),
            namespace=ev.namespace,
            job_id=ev.job_id,
            type=ev.type,
            priority=ev.priority,
            triggered_by=TRIGGER_QUEUED_ALLOCS,
            status=EVAL_BLOCKED,
            status_description=DESC_BLOCKED_EVAL,
            job_modify_index=ev.job_modify_index,
            previous_eval=ev.id,
            failed_tg_allocs=failed,
            snapshot_index=w.index - 1,
        )
        self._cancel_blocked(w, ev.namespace, ev.job_id, keep=None)
        self.state.put_eval(w, blocked)
        return blocked

    def _cancel_blocked(self, w: Write, namespace: str, job_id: str, keep: str | None) -> None:
        for other in self.state.job_evals((namespace, job_id)):
            if other.status == EVAL_BLOCKED and other.id != keep:
                other.status = EVAL_CANCELED
                other.status_description = "evaluation canceled by a newer blocked evaluation"
                self.state.put_eval(w, other)


def failure_eval(alloc: AllocRecord, job: JobRecord) -> EvalRecord:
    """The ``alloc-failure`` evaluation ``Node.UpdateAlloc`` creates for a failed allocation."""
    return EvalRecord(
        id=str(uuid.uuid4()),
        namespace=alloc.namespace,
        job_id=alloc.job_id,
        type=job.type,
        priority=int(job.spec.get("Priority") or 50),
        triggered_by=TRIGGER_ALLOC_FAILURE,
        status=EVAL_PENDING,
        job_modify_index=job.job_modify_index,
    )


__all__ = ["DESIRED_RUN", "Scheduler", "failure_eval", "reschedule_eligible"]
