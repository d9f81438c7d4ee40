"""The client's own endpoints: host stats, allocation stats and signals, client GC, after
``command/agent/stats_endpoint.go`` and ``client/alloc_endpoint.go``.

Stats are real where the emulator runs a real process (resident memory of a ``raw_exec`` or
``exec`` task, read from ``/proc``) and zero for the mock driver; host stats describe the
machine the emulator runs on.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from starlette.responses import Response

from . import errors
from .httputil import decode_body, field_of, json_response
from .responses import GET, WRITE_METHODS, Ctx, method_not_allowed, not_emulated


def _now_ns() -> int:
    return time.time_ns()


def _memory() -> dict[str, int]:
    page = os.sysconf("SC_PAGE_SIZE")
    total = os.sysconf("SC_PHYS_PAGES") * page
    available = os.sysconf("SC_AVPHYS_PAGES") * page
    return {"Total": total, "Available": available, "Used": total - available, "Free": available}


def _uptime() -> int:
    try:
        with open("/proc/uptime") as f:
            return int(float(f.read().split()[0]))
    except (OSError, ValueError):
        return 0


async def client_stats(ctx: Ctx) -> Response:
    """``GET /v1/client/stats``: ``HostStats`` of the machine (node:read)."""
    if ctx.method != GET:
        raise method_not_allowed()
    ctx.options()
    acl = ctx.backend.acl
    acl.authenticate(ctx.token)
    if not acl.allows_node_read(ctx.token):
        raise errors.forbidden()
    cpus = [
        {"CPU": f"cpu{i}", "User": 0.0, "System": 0.0, "Idle": 100.0, "Total": 0.0}
        for i in range(os.cpu_count() or 1)
    ]
    body = {
        "Memory": _memory(),
        "CPU": cpus,
        "DiskStats": [],
        "AllocDirStats": None,
        "DeviceStats": None,
        "Uptime": _uptime(),
        "Timestamp": _now_ns(),
        "CPUTicksConsumed": 0.0,
    }
    return json_response(body)


def _client_alloc(ctx: Ctx, alloc_id: str, capability: str):
    backend = ctx.backend
    alloc = backend.state.allocs.get(alloc_id)
    runner = backend.runners.get(alloc_id)
    if alloc is None or runner is None:
        raise errors.not_found(errors.unknown_allocation(alloc_id))
    backend.acl.check(ctx.token, alloc.namespace, capability)
    return alloc, runner


def _usage(rss: int) -> dict[str, Any]:
    return {
        "MemoryStats": {
            "RSS": rss,
            "Cache": 0,
            "Swap": 0,
            "Usage": rss,
            "MaxUsage": rss,
            "KernelUsage": 0,
            "KernelMaxUsage": 0,
            "Measured": ["RSS"],
        },
        "CpuStats": {
            "SystemMode": 0.0,
            "UserMode": 0.0,
            "TotalTicks": 0.0,
            "ThrottledPeriods": 0,
            "ThrottledTime": 0,
            "Percent": 0.0,
            "Measured": ["System Mode", "User Mode", "Percent"],
        },
        "DeviceStats": None,
    }


async def client_allocation_request(ctx: Ctx, path: str) -> Response:
    """``/v1/client/allocation/:id/{stats,signal,restart,gc}``."""
    alloc_id, _, action = path.partition("/")
    if action == "stats":
        return await _alloc_stats(ctx, alloc_id)
    if action == "signal":
        return await _alloc_signal(ctx, alloc_id)
    if action == "gc":
        return await _alloc_gc(ctx, alloc_id)
    return not_emulated(f"{ctx.method} /v1/client/allocation/:alloc_id/{action}")


async def _alloc_stats(ctx: Ctx, alloc_id: str) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    _, runner = _client_alloc(ctx, alloc_id, "read-job")
    now = _now_ns()
    tasks = {}
    total = 0
    for task in runner.tasks:
        rss = task.handle.resident_bytes() if task.handle is not None else 0
        total += rss
        tasks[task.name] = {"ResourceUsage": _usage(rss), "Timestamp": now, "Pids": None}
    return json_response({"ResourceUsage": _usage(total), "Tasks": tasks, "Timestamp": now})


async def _alloc_signal(ctx: Ctx, alloc_id: str) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    raw = await ctx.request.body()
    body = decode_body(raw) if raw else {}
    _, runner = _client_alloc(ctx, alloc_id, "alloc-lifecycle")
    task_name = str(field_of(body, "Task") or "") if isinstance(body, dict) else ""
    name = str(field_of(body, "Signal") or "SIGKILL") if isinstance(body, dict) else "SIGKILL"
    targets = [t for t in runner.tasks if not task_name or t.name == task_name]
    if task_name and not targets:
        raise errors.server_error(f"Failed to signal task: {task_name}, err: Task not found")
    try:
        signum = signal.Signals[name.upper()]
    except KeyError:
        target = targets[0].name if targets else task_name
        raise errors.server_error(
            f"Failed to signal task: {target}, err: invalid signal: {name}"
        ) from None
    for task in targets:
        if task.handle is not None:
            task.handle.signal(int(signum))
            task.event("Signaling", TaskSignal=name, TaskSignalReason="")
    return json_response({})


async def _alloc_gc(ctx: Ctx, alloc_id: str) -> Response:
    if ctx.method not in (GET, *WRITE_METHODS):
        raise method_not_allowed()
    alloc, _ = _client_alloc(ctx, alloc_id, "submit-job")
    if not alloc.terminal:
        raise errors.server_error(f"Failed to destroy allocation {alloc_id}: alloc is not terminal")
    ctx.backend.client_gc([alloc_id])
    return Response(b"", 200)


async def client_gc(ctx: Ctx) -> Response:
    """``/v1/client/gc``: the client destroys the directories of its terminal allocations."""
    if ctx.method not in (GET, *WRITE_METHODS):
        raise method_not_allowed()
    acl = ctx.backend.acl
    acl.authenticate(ctx.token)
    acl.check_management(ctx.token)  # node:write
    node_id = ctx.query.get("node_id")
    state = ctx.backend.state
    if node_id and node_id not in state.nodes:
        raise errors.not_found(f"Unknown node {node_id}")
    ids = [
        a.id for a in state.allocs.values() if a.terminal and (not node_id or a.node_id == node_id)
    ]
    ctx.backend.client_gc(ids)
    return Response(b"", 200)
