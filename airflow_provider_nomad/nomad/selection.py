"""Choosing which of a job's allocations to follow (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Allocs = list[Mapping[str, Any]]


def select_allocations(
    alloc_id: str | None = None, task_group: str | None = None
) -> Callable[[Allocs], Allocs] | None:
    """A selector keeping one allocation's reschedule chain and/or one task group.

    :param alloc_id: keep this allocation and the allocations that replaced it (``NextAllocation``
        links), so following it survives a reschedule. A prefix of the ID is accepted.
    :param task_group: keep only this task group's allocations.
    """
    if alloc_id is None and task_group is None:
        return None

    def select(allocs: Allocs) -> Allocs:
        chosen = [a for a in allocs if task_group is None or a.get("TaskGroup") == task_group]
        if alloc_id is None:
            return chosen
        by_id = {a["ID"]: a for a in chosen}
        current = next((a for a in chosen if a["ID"].startswith(alloc_id)), None)
        chain = []
        while current is not None and current not in chain:
            chain.append(current)
            current = by_id.get(current.get("NextAllocation") or "")
        return chain

    return select
