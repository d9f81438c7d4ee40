"""The ``[nomad_executor]`` configuration section: its options, defaults and documentation.

One table serves both :func:`~airflow_provider_nomad.get_provider_info.get_provider_info`
(which Airflow shows in ``airflow config list`` and the docs) and the executor, which reads the
options through its ``ExecutorConf`` so a multi-team deployment can set them per team.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_nomad.provider_config import ConfSource, option_text, section_info

SECTION = "nomad_executor"

#: option -> (default, description). Defaults are strings, as in airflow.cfg.
OPTIONS: dict[str, tuple[str, str]] = {
    "conn_id": (
        "nomad_default",
        "Airflow connection (type nomad) the executor dispatches with. Its token needs "
        "dispatch-job, read-job and read-logs on the namespace; list-jobs for the watch.",
    ),
    "runner_job_id": (
        "airflow-task-runner",
        "The parameterized batch job each task workload is dispatched to. The platform team "
        "registers it (see docs/executor.md); it must allow the meta keys airflow_dag_id, "
        "airflow_task_id, airflow_run_id, airflow_try_number, airflow_map_index and accept a "
        "payload. A task may name another runner in executor_config={'nomad': "
        "{'runner_job_id': ...}}.",
    ),
    "namespace": (
        "",
        "Nomad namespace of the runner jobs. Empty: the connection's namespace (else default).",
    ),
    "region": ("", "Nomad region. Empty: the connection's region (else the agent's)."),
    "runner_task_name": (
        "",
        "Name of the runner job's task that runs the workload, whose stdout/stderr are the "
        "task's log. Empty: the allocation's only task.",
    ),
    "watch_wait_seconds": (
        "60",
        "Longest wait of the one blocking query that watches every running child (Nomad caps "
        "it at 300). Ends are seen as soon as Nomad records them, whatever this value.",
    ),
    "dispatch_concurrency": (
        "4",
        "Threads sending dispatch and stop requests, so a slow Nomad never blocks the "
        "scheduler's loop.",
    ),
}


@dataclass(frozen=True)
class ExecutorSettings:
    """The section's values, checked: every problem is reported before anything is dispatched."""

    conn_id: str
    runner_job_id: str
    namespace: str | None
    region: str | None
    runner_task_name: str | None
    watch_wait_seconds: float
    dispatch_concurrency: int

    @classmethod
    def read(cls, conf: ConfSource) -> ExecutorSettings:
        def get(name: str) -> str:
            return option_text(conf, SECTION, OPTIONS, name)

        def number(name: str, kind: type, low: float, high: float) -> Any:
            text = get(name)
            try:
                value = kind(text)
            except ValueError:
                value = None
            if value is None or not low <= value <= high:
                raise ValueError(
                    f"[{SECTION}] {name} must be a number from {low:g} to {high:g}, got {text!r}"
                )
            return value

        settings = cls(
            conn_id=get("conn_id"),
            runner_job_id=get("runner_job_id"),
            namespace=get("namespace") or None,
            region=get("region") or None,
            runner_task_name=get("runner_task_name") or None,
            watch_wait_seconds=number("watch_wait_seconds", float, 1, 300),
            dispatch_concurrency=number("dispatch_concurrency", int, 1, 64),
        )
        for name in ("conn_id", "runner_job_id"):
            if not getattr(settings, name):
                raise ValueError(f"[{SECTION}] {name} must not be empty")
        return settings


def provider_config() -> dict[str, Any]:
    """The ``config`` entry of the provider info (import-free data)."""
    return {
        SECTION: section_info(
            "NomadExecutor: runs each Airflow task as a dispatched child of a "
            "parameterized Nomad batch job (the runner).",
            OPTIONS,
            {"dispatch_concurrency": "integer", "watch_wait_seconds": "float"},
        )
    }
