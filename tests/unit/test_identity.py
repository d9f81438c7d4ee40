"""The identity that lets a retried task find the child its earlier try dispatched."""

from __future__ import annotations

from airflow_provider_nomad.nomad.identity import TaskIdentity
from airflow_provider_nomad.nomad.selection import select_allocations


def test_identity_is_stable_and_distinguishes_map_indexes():
    a = TaskIdentity("nightly", "settle", "scheduled__2026-11-24", 0)
    assert a.key == TaskIdentity("nightly", "settle", "scheduled__2026-11-24", 0).key
    assert a.key != TaskIdentity("nightly", "settle", "scheduled__2026-11-24", 1).key
    assert a.children_prefix("settlement") == f"settlement/dispatch-af-{a.key}-"
    assert a.idempotency_token(1) != a.idempotency_token(2)


def test_selection_follows_an_allocation_through_its_reschedules():
    allocs = [
        {"ID": "aaaa1", "TaskGroup": "g", "NextAllocation": "bbbb2"},
        {"ID": "bbbb2", "TaskGroup": "g"},
        {"ID": "cccc3", "TaskGroup": "h"},
    ]
    assert [a["ID"] for a in select_allocations("aaaa")(allocs)] == ["aaaa1", "bbbb2"]
    assert [a["ID"] for a in select_allocations(task_group="h")(allocs)] == ["cccc3"]
    assert select_allocations() is None
