"""Node selection with Nomad's placement metrics (``scheduler/feasible.go``, ``rank.go``).

Every ready node in the job's datacenters is evaluated; a node failing a constraint or lacking
a driver is *filtered* (``ConstraintFiltered`` keyed by ``"<LTarget> <Operand> <RTarget>"`` or
``"missing drivers"``); a feasible node without room is *exhausted* (``DimensionExhausted`` by
``cpu``/``memory``/``disk``); among the rest the best bin-packing score wins.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from .records import JobRecord, NodeRecord
from .substitutes import Substitutions

MISSING_DRIVERS = "missing drivers"


@dataclass
class Need:
    """Resources one allocation of a task group asks for."""

    cpu: int
    memory: int
    disk: int
    tasks: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, group: dict[str, Any]) -> Need:
        tasks = {}
        for task in group.get("Tasks") or []:
            res = task.get("Resources") or {}
            tasks[task["Name"]] = {
                "CPU": int(res.get("CPU") or 0),
                "MemoryMB": int(res.get("MemoryMB") or 0),
                "MemoryMaxMB": int(res.get("MemoryMaxMB") or 0),
            }
        disk = int((group.get("EphemeralDisk") or {}).get("SizeMB") or 0)
        return cls(
            cpu=sum(t["CPU"] for t in tasks.values()),
            memory=sum(t["MemoryMB"] for t in tasks.values()),
            disk=disk,
            tasks=tasks,
        )


def new_metrics() -> dict[str, Any]:
    """An empty ``AllocMetric``."""
    return {
        "NodesEvaluated": 0,
        "NodesFiltered": 0,
        "NodesInPool": 0,
        "NodePool": "",
        "NodesAvailable": {},
        "ClassFiltered": None,
        "ConstraintFiltered": None,
        "NodesExhausted": 0,
        "ClassExhausted": None,
        "DimensionExhausted": None,
        "QuotaExhausted": None,
        "ResourcesExhausted": None,
        "Scores": None,
        "ScoreMetaData": None,
        "AllocationTime": 0,
        "CoalescedFailures": 0,
    }


def _bump(metrics: dict[str, Any], field_name: str, key: str) -> None:
    counts = metrics[field_name] or {}
    counts[key] = counts.get(key, 0) + 1
    metrics[field_name] = counts


def constraint_string(c: dict[str, Any]) -> str:
    return f"{c.get('LTarget', '')} {c.get('Operand', '=')} {c.get('RTarget', '')}"


def _resolve(target: str, values: dict[str, str]) -> tuple[str | None, bool]:
    if target.startswith("${") and target.endswith("}"):
        key = target[2:-1]
        return values.get(key), key in values
    return target, True


def _order(operand: str, left: str, right: str) -> bool:
    def number(text: str) -> float | None:
        try:
            return float(text)
        except ValueError:
            return None

    lnum, rnum = number(left), number(right)
    lv, rv = (lnum, rnum) if lnum is not None and rnum is not None else (left, right)
    return {"<": lv < rv, "<=": lv <= rv, ">": lv > rv, ">=": lv >= rv}[operand]


def constraint_met(c: dict[str, Any], values: dict[str, str]) -> bool:
    """``checkConstraint`` for the operands a batch job uses."""
    operand = c.get("Operand") or "="
    left, lfound = _resolve(c.get("LTarget") or "", values)
    right, rfound = _resolve(c.get("RTarget") or "", values)
    both = lfound and rfound
    if operand in ("distinct_hosts", "distinct_property"):
        return True
    if operand in ("=", "==", "is"):
        return both and left == right
    if operand in ("!=", "not"):
        return (left if lfound else None) != (right if rfound else None)
    if operand in ("<", "<=", ">", ">="):
        return both and _order(operand, left, right)
    if operand == "is_set":
        return lfound
    if operand == "is_not_set":
        return not lfound
    if operand == "regexp":
        return both and re.search(right, left) is not None
    if operand in ("set_contains", "set_contains_all"):
        have = {p.strip() for p in (left or "").split(",")}
        return both and all(p.strip() in have for p in right.split(","))
    if operand == "set_contains_any":
        have = {p.strip() for p in (left or "").split(",")}
        return both and any(p.strip() in have for p in right.split(","))
    if operand in ("version", "semver"):
        return lfound
    return False


def infeasible_reason(
    job: JobRecord,
    group: dict[str, Any],
    node: NodeRecord,
    substitutions: Substitutions | None = None,
) -> str | None:
    """The first check a node fails, worded as Nomad's metrics word it; None if feasible.

    A task a declared substitution matches counts as runnable whatever its driver.
    """
    values = node.target_values()
    for c in job.spec.get("Constraints") or []:
        if not constraint_met(c, values):
            return constraint_string(c)
    for task in group.get("Tasks") or []:
        if task.get("Driver") not in node.drivers and not (
            substitutions is not None and substitutions.find(task)
        ):
            return MISSING_DRIVERS
    for c in group.get("Constraints") or []:
        if not constraint_met(c, values):
            return constraint_string(c)
    for task in group.get("Tasks") or []:
        for c in task.get("Constraints") or []:
            if not constraint_met(c, values):
                return constraint_string(c)
    return None


def exhausted_dimension(node: NodeRecord, used: tuple[int, int, int], need: Need) -> str | None:
    """``ComparableResources.Superset``: the first dimension that does not fit."""
    cpu, memory, disk = used
    if node.cpu < cpu + need.cpu:
        return "cpu"
    if node.memory < memory + need.memory:
        return "memory"
    if node.disk < disk + need.disk:
        return "disk"
    return None


def binpack_score(node: NodeRecord, used: tuple[int, int, int], need: Need) -> float:
    """``ScoreFitBinPack``: fuller nodes score higher; normalised to 0..1."""
    free_cpu = 1 - (used[0] + need.cpu) / max(node.cpu, 1)
    free_mem = 1 - (used[1] + need.memory) / max(node.memory, 1)
    score = 20.0 - (10**free_cpu + 10**free_mem)
    return max(0.0, min(score, 18.0)) / 18.0


def datacenter_match(node: NodeRecord, datacenters: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(node.datacenter, pattern) for pattern in datacenters or ["*"])


def select_node(
    job: JobRecord,
    group: dict[str, Any],
    nodes: list[NodeRecord],
    usage: dict[str, tuple[int, int, int]],
    substitutions: Substitutions | None = None,
) -> tuple[NodeRecord | None, dict[str, Any]]:
    """Pick a node for one allocation of ``group``; always return the metrics."""
    metrics = new_metrics()
    need = Need.of(group)
    pool = job.spec.get("NodePool") or "default"
    in_pool = [n for n in nodes if pool in ("all", n.node_pool)]
    metrics["NodesInPool"] = len(in_pool)
    metrics["NodePool"] = pool
    ready = [
        n
        for n in in_pool
        if n.status == "ready"
        and n.eligibility == "eligible"  # draining or marked ineligible: never considered
        and datacenter_match(n, job.spec.get("Datacenters"))
    ]
    for node in ready:
        metrics["NodesAvailable"][node.datacenter] = (
            metrics["NodesAvailable"].get(node.datacenter, 0) + 1
        )
    best: tuple[float, NodeRecord] | None = None
    for node in sorted(ready, key=lambda n: n.name):
        metrics["NodesEvaluated"] += 1
        reason = infeasible_reason(job, group, node, substitutions)
        if reason is not None:
            metrics["NodesFiltered"] += 1
            _bump(metrics, "ConstraintFiltered", reason)
            continue
        dimension = exhausted_dimension(node, usage[node.id], need)
        if dimension is not None:
            metrics["NodesExhausted"] += 1
            _bump(metrics, "DimensionExhausted", dimension)
            continue
        score = binpack_score(node, usage[node.id], need)
        if best is None or score > best[0]:
            best = (score, node)
    if best is None:
        _exhaust_resources(metrics, need)
        return None, metrics
    score, node = best
    metrics["ScoreMetaData"] = [
        {
            "NodeID": node.id,
            "Scores": {"binpack": score, "job-anti-affinity": 0, "node-reschedule-penalty": 0},
            "NormScore": score,
        }
    ]
    return node, metrics


def _exhaust_resources(metrics: dict[str, Any], need: Need) -> None:
    dims = metrics["DimensionExhausted"]
    if not dims:
        return
    exhausted = {}
    for name, res in need.tasks.items():
        exhausted[name] = {
            "CPU": res["CPU"] if dims.get("cpu") else 0,
            "Cores": 0,
            "MemoryMB": res["MemoryMB"] if dims.get("memory") else 0,
            "MemoryMaxMB": 0,
            "DiskMB": 0,
            "IOPS": 0,
            "Networks": None,
            "Devices": None,
        }
    metrics["ResourcesExhausted"] = exhausted
