"""Claim 5: NomadExecutor's cost to Nomad does not grow with the number of running tasks.

For 1, 50 and 500 tries at once (``Profile.executor_tasks``), a fresh emulator, a ``mock_driver``
runner job shaped like the documented one (parameterized, payload required, the identity meta
keys), and one ``NomadExecutor`` in a worker process (``workers/executor_sync.py``) driven as a
scheduler drives it, one heartbeat a second. The emulator counts every request it receives;
each phase (dispatch, a quiet window while every child runs, the ends) is counted on its own.
The machine's load average is recorded before and after each size, since a loaded machine
slows the dispatch and end phases (never the request counts of the quiet window).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import httpx

from benchmarks.emulator import EmulatorProcess
from benchmarks.jobs import mock_batch
from benchmarks.procs import WorkerProcess, worker_env, write_spec
from benchmarks.profile import Profile

RUNNER = "bench-airflow-task-runner"
#: The emulated node's capacity: room for every child of the largest size at once.
NODE_CPU_MHZ = 100_000
NODE_MEMORY_MB = 100_000
#: Longest a whole size may take (500 dispatches and ends on a loaded 2-core machine).
SIZE_BOUND_S = 1800.0


def runner_job() -> dict[str, Any]:
    """A runner like ``example_dags/runners``, its task a mock that runs until stopped."""
    from airflow_provider_nomad.executors.dispatch_spec import IDENTITY_META_KEYS

    job = mock_batch(RUNNER, run_for=6 * 3600)
    job["ParameterizedJob"] = {
        "Payload": "required",
        "MetaRequired": [],
        "MetaOptional": list(IDENTITY_META_KEYS),
    }
    return job


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class ExecutorBenchmark:
    """One fresh emulator and one executor worker per size.

    :param profile: sizes (``executor_tasks``, ``executor_window_s``).
    :param workdir: scratch directory.
    """

    def __init__(self, profile: Profile, workdir: Path) -> None:
        self.profile = profile
        self.workdir = workdir

    def run(self) -> dict[str, Any]:
        # Its own time stamp: the claim may be run alone (--only executor) and merged.
        started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        sizes = []
        for tasks in self.profile.executor_tasks:
            sizes.append(self.run_size(tasks))
            steady = sizes[-1]["phases"]["steady"]
            print(
                f"  executor, {tasks} running tasks: {steady['requests']} requests in "
                f"{steady['seconds']:.0f} s while they run, load {sizes[-1]['load_after']}",
                flush=True,
            )
        return {
            "started": started,
            "window_s": self.profile.executor_window_s,
            "heartbeat_s": 1.0,
            "cpus": os.cpu_count(),
            "sizes": sizes,
        }

    def run_size(self, tasks: int) -> dict[str, Any]:
        logs = self.workdir / "logs"
        emulator = EmulatorProcess(logs / f"emulator-executor-{tasks}.log")
        worker: WorkerProcess | None = None
        load_before = load_average()
        try:
            emulator.start()
            for node in emulator.control.nodes():
                emulator.control.set_node(node["ID"], cpu=NODE_CPU_MHZ, memory=NODE_MEMORY_MB)
            with httpx.Client(base_url=emulator.nomad_addr, timeout=60) as api:
                api.put("/v1/jobs", json={"Job": runner_job()}).raise_for_status()
            spec = {
                "nomad_addr": emulator.nomad_addr,
                "runner": RUNNER,
                "tasks": tasks,
                "window_s": self.profile.executor_window_s,
            }
            conn = f'{{"conn_type": "nomad", "host": "{emulator.nomad_addr}"}}'
            env = worker_env(
                self.workdir / "airflow-home",
                {
                    "AIRFLOW_CONN_NOMAD_DEFAULT": conn,
                    "AIRFLOW__NOMAD_EXECUTOR__RUNNER_JOB_ID": RUNNER,
                },
            )
            worker = WorkerProcess(
                "benchmarks.workers.executor_sync",
                [str(write_spec(self.workdir / "specs", f"executor-{tasks}", spec))],
                logs / f"executor-{tasks}.log",
                env,
            ).start()
            result = worker.wait_for("result", SIZE_BOUND_S)
            worker.wait(60)
        finally:
            if worker is not None:
                worker.stop()
            emulator.stop()
        result.pop("event", None)
        return {**result, "load_before": load_before, "load_after": load_average()}
