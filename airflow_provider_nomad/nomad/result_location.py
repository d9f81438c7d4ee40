"""Where a batch's result file is, in its job's allocations (pure).

A result file is read back from one allocation (``GET /v1/client/fs/cat/:alloc_id``). An
allocation directory holds ``alloc`` (shared by the tasks of one allocation) and one directory
per task, nothing else. So the path must name a directory that exactly one allocation of the
job has: ``alloc/...`` when the job has one task group of count 1, or ``<task>/...`` when that
task's group has count 1. A job that runs the same directory in several allocations (a count
above 1, several groups writing ``alloc/``, a ``sysbatch`` job on every node) has no single
result, and reading one of them at random would report a part as the whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SHARED_ALLOC_DIR", "result_allocation", "result_file_problem"]

#: The directory the tasks of one allocation share ($NOMAD_ALLOC_DIR).
SHARED_ALLOC_DIR = "alloc"


def result_file_problem(job: Mapping[str, Any], result_file: str) -> str | None:
    """Why ``result_file`` cannot be read from exactly one allocation of ``job`` (a jobspec or
    a registered job as Nomad's JSON); None when it can.

    :param result_file: the path, already checked for its form (relative, no ``..``).
    """
    top = result_file.split("/", 1)[0]
    groups = list(job.get("TaskGroups") or [])
    tasks: dict[str, list[Mapping[str, Any]]] = {}
    for group in groups:
        for task in group.get("Tasks") or []:
            tasks.setdefault(task.get("Name"), []).append(group)
    name = result_file.rsplit("/", 1)[-1]
    if top != SHARED_ALLOC_DIR and top not in tasks:
        known = ", ".join(map(repr, sorted(t for t in tasks if t))) or "none"
        return (
            f"result_file {result_file!r} is neither in 'alloc/' nor in the directory of one of "
            f"the job's tasks ({known}); write e.g. 'alloc/{name}'"
        )
    if job.get("Type") == "sysbatch":
        return (
            f"result_file {result_file!r} is read from one allocation, but a sysbatch job runs "
            "one on every eligible node; drop result_file, or run the batch as a batch job"
        )
    if top == SHARED_ALLOC_DIR and len(groups) > 1:
        names = ", ".join(repr(g.get("Name")) for g in groups)
        return (
            f"result_file {result_file!r} is in 'alloc/', which each of the job's {len(groups)} "
            f"task groups ({names}) has for itself; point it at the directory of the task "
            f"that writes it, e.g. '<task>/local/{name}'"
        )
    if top != SHARED_ALLOC_DIR and len(tasks[top]) > 1:
        names = ", ".join(repr(g.get("Name")) for g in tasks[top])
        return (
            f"result_file {result_file!r} is in the directory of task {top!r}, which groups "
            f"{names} each have; give the task that writes the result a name of its own"
        )
    group = groups[0] if top == SHARED_ALLOC_DIR else tasks[top][0]
    # A jobspec sent as `nomad job run -output` gives an omitted count as null: Nomad's 1.
    count = 1 if group.get("Count") is None else group.get("Count")
    if count != 1:
        return (
            f"result_file {result_file!r} is read from one allocation, but task group "
            f"{group.get('Name')!r} runs {count} of them (count = {count}); give that group "
            "count = 1, or have one task of a group of its own write the result"
        )
    return None


def result_allocation(
    result_file: str, final_allocs: Sequence[str], task_allocs: Sequence[tuple[str, str]]
) -> str:
    """The final allocation that holds ``result_file``.

    :param final_allocs: the IDs of the job's final allocations (one per reschedule chain).
    :param task_allocs: ``(allocation ID, task name)`` of the tasks of those allocations.
    """
    top = result_file.split("/", 1)[0]
    if top != SHARED_ALLOC_DIR:
        holding = [alloc for alloc, task in task_allocs if task == top and alloc in final_allocs]
        if holding:
            return holding[-1]
    return final_allocs[-1]
