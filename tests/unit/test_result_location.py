"""A result file must be in exactly one allocation of its job, and is read from that one."""

from __future__ import annotations

import pytest

from airflow_provider_nomad.nomad.result_location import result_allocation, result_file_problem


def group(name: str, *tasks: str, **extra) -> dict:
    return {"Name": name, "Tasks": [{"Name": t} for t in tasks], **extra}


def job(*groups: dict, kind: str = "batch") -> dict:
    return {"ID": "settle", "Type": kind, "TaskGroups": list(groups)}


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (job(group("batch", "main", Count=1)), "alloc/result.json"),
        (job(group("batch", "main")), "alloc/result.json"),  # Count left out: Nomad's 1
        (job(group("batch", "main", Count=None)), "alloc/result.json"),  # null: Nomad's 1 too
        (job(group("batch", "main", "sidecar")), "main/local/out.json"),
        # Several groups: a task's own directory is in one allocation, even beside a fan-out.
        (job(group("prep", "fetch", Count=4), group("batch", "main")), "main/local/out.json"),
    ],
)
def test_a_result_file_in_exactly_one_allocation_is_accepted(spec, path):
    assert result_file_problem(spec, path) is None


@pytest.mark.parametrize(
    ("spec", "path", "fragment"),
    [
        (
            job(group("batch", "main", Count=3)),
            "alloc/result.json",
            "task group 'batch' runs 3 of them (count = 3)",
        ),
        (
            job(group("prep", "fetch"), group("batch", "main")),
            "alloc/result.json",
            "each of the job's 2 task groups ('prep', 'batch') has for itself; point it at "
            "the directory of the task that writes it, e.g. '<task>/local/result.json'",
        ),
        (
            job(group("prep", "fetch", Count=2), group("batch", "main")),
            "fetch/local/out.json",
            "task group 'prep' runs 2 of them",
        ),
        (
            job(group("a", "main"), group("b", "main")),
            "main/local/out.json",
            "the directory of task 'main', which groups 'a', 'b' each have",
        ),
        (
            job(group("batch", "main"), kind="sysbatch"),
            "alloc/result.json",
            "a sysbatch job runs one on every eligible node",
        ),
        (
            job(group("batch", "main")),
            "other/local/out.json",
            "is neither in 'alloc/' nor in the directory of one of the job's tasks ('main')",
        ),
    ],
)
def test_a_result_file_in_several_allocations_or_none_is_refused(spec, path, fragment):
    problem = result_file_problem(spec, path)
    assert problem is not None and fragment in problem


def test_the_result_is_read_from_the_allocation_of_the_task_that_writes_it():
    finals = ["a-prep", "a-batch"]
    tasks = [("a-prep", "fetch"), ("a-batch", "main")]
    assert result_allocation("main/local/out.json", finals, tasks) == "a-batch"
    assert result_allocation("fetch/local/out.json", finals, tasks) == "a-prep"
    assert result_allocation("alloc/result.json", ["a-only"], [("a-only", "main")]) == "a-only"
