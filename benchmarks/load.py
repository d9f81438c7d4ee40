"""The machine's load, recorded beside every figure that depends on how busy the machine is.

The benchmarks run on shared machines: a throughput ratio or a p99 means little without the
load it was measured under. ``cpus`` is what this process may run on (its affinity).
"""

from __future__ import annotations

import os
from typing import Any


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine_load() -> dict[str, Any]:
    """``{"loadavg": [1 min, 5 min, 15 min], "cpus": n}`` right now."""
    return {"loadavg": [round(x, 2) for x in os.getloadavg()], "cpus": cpus()}


def load_note(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """``"load 1.9 -> 2.4 on 2 CPUs"``: the 1-minute load average before and after."""
    if not before or not after:
        return "load not recorded"
    return f"load {before['loadavg'][0]:.1f} -> {after['loadavg'][0]:.1f} on {before['cpus']} CPUs"
