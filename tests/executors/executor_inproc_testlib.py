"""Helpers of the NomadExecutor tests run in this process: workloads, and driving the executor
as the scheduler's loop does."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, TypeVar

_T = TypeVar("_T")
#: Bound against hangs of anything these tests wait for.
BOUND = 60.0

#: Runner jobs on the mock driver: one per behaviour a test needs.
RUNNERS: dict[str, dict[str, Any]] = {
    "runner-ok": {
        "driver": "mock_driver",
        "config": {"run_for": "200ms", "stdout_string": "ran\n"},
    },
    "runner-long": {
        "driver": "mock_driver",
        "config": {"run_for": "1h", "stdout_string": "long\n"},
    },
    "runner-start-error": {
        "driver": "mock_driver",
        "config": {"start_error": "image pull failed: no such image"},
    },
    "runner-docker": {"driver": "docker", "config": {"image": "airflow:3"}},
}


def workload(
    task_id: str = "t",
    try_number: int = 1,
    executor_config: dict | None = None,
    dag_rel_path: str = "dags/d.py",
    run_id: str = "manual__2026-01-01",
):
    from airflow.executors.workloads import BundleInfo, ExecuteTask
    from airflow.executors.workloads.task import TaskInstanceDTO

    ti = TaskInstanceDTO(
        id=uuid.uuid4(),
        task_id=task_id,
        dag_id="d",
        run_id=run_id,
        try_number=try_number,
        dag_version_id=uuid.uuid4(),
        map_index=-1,
        pool_slots=1,
        priority_weight=1,
        queue="default",
        executor_config=executor_config,
    )
    return ExecuteTask(
        ti=ti,
        dag_rel_path=dag_rel_path,
        token="eyJ.secret-task-token." + "s" * 40,
        log_path="d/t.log",
        bundle_info=BundleInfo(name="dags-folder", version=None),
    )


def ti_like(work, external_executor_id: str | None = None) -> SimpleNamespace:
    """What the scheduler passes to adoption and revocation, for the workload's try."""
    return SimpleNamespace(
        key=work.ti.key,
        try_number=work.ti.try_number,
        executor_config=work.ti.executor_config,
        external_executor_id=external_executor_id,
    )


def drive(executor, condition: Callable[[], _T], what: str, timeout: float = BOUND) -> _T:
    """Heartbeat ``executor`` (as the scheduler loop does) until ``condition()`` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        executor.heartbeat()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(0.05)


def end_event(executor, key):
    """Drive until the executor has an end event for ``key``; ``(state, info)``."""
    found: dict = {}

    def ended():
        for k, (state, info) in executor.get_event_buffer().items():
            if k == key and str(state) != "running":
                found["event"] = (str(state), info)
        return found.get("event")

    return drive(executor, ended, f"the end of {key}")
