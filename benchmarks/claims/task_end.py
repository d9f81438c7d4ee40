"""Claim 1b: from a batch's end to its task's end, through a real Airflow deployment.

Claim 1 times the provider's waiters alone: the sync path to ``_follow`` returning, the
deferrable path to the trigger's event. What a user waits for is the task instance ending.
Here ``airflow api-server``, ``scheduler`` (LocalExecutor), ``dag-processor`` and ``triggerer``
run as separate processes on SQLite (:mod:`airflow_provider_nomad.testing.airflow_deployment`)
and run three DAGs: two of one ``NomadDispatchJobOperator`` task each, one sync, one
deferrable, and airflow-nomad 0.2.1's ``check-job`` sensor as the real task it is, poking every
5 s with its ``nomad`` processes and an XCom push per poke
(:mod:`benchmarks.waiters.airflow_nomad_task`). For the deferrable one the end goes through
the trigger's event, the triggerer writing it to the database, the scheduler queuing the task
again, LocalExecutor starting a task process, and ``execute_complete`` re-reading the outcome.

Each path has its own emulator, and one DAG run of each path is in flight at a time (the
paths side by side), so each emulator's request counters, reset before a run and read once the
task has ended, count that task alone: the whole task, from reading the parent to the last read
of ``execute_complete``. Latency is the task instance's ``end_date`` (Airflow's record) minus the
batch's ``FinishedAt`` (the emulator's record); both clocks are this machine's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_nomad.testing.airflow_deployment import Deployment, migrate_database
from benchmarks.emulator import EmulatorProcess, start_all
from benchmarks.jobs import NomadApi, final_allocation, finish_times, mock_batch
from benchmarks.load import machine_load
from benchmarks.profile import Profile
from benchmarks.stats import summarize
from benchmarks.waiters import airflow_nomad_task, nomad_cli
from benchmarks.waiters.kinds import AIRFLOW_NOMAD_021
from benchmarks.waiters.peers import AirflowNomad021Waiter

REPO_ROOT = Path(__file__).resolve().parents[2]
PARENT = "bench-batch"
TASK_ID = "batch"
PATHS = ("sync", "deferrable", AIRFLOW_NOMAD_021)
LABELS = {
    "sync": "provider, sync (operator in a LocalExecutor task)",
    "deferrable": "provider, deferrable (trigger in the triggerer, resumed by a worker)",
    AIRFLOW_NOMAD_021: "airflow-nomad 0.2.1 (its check-job sensor in a LocalExecutor task, "
    "poking every 5 s: a nomad process and an XCom push per poke)",
}
DAG_IDS = {
    "sync": "bench_task_end_sync",
    "deferrable": "bench_task_end_deferrable",
    AIRFLOW_NOMAD_021: "bench_task_end_airflow_nomad",
}
#: Bound on one DAG run on a loaded machine: a hang, not a measurement.
RUN_BOUND = 300.0
#: What Airflow's scheduler logs when it fails a task instance because the executor's success
#: of the deferring process reached it only after the trigger had fired and the task was
#: queued or running again (the family of apache/airflow#66374, #71580 and #72716; fixed
#: upstream for "scheduled" only).
STALE_DEFER_EXIT = "finished with state success, but the task instance's state attribute is"


class AirflowStaleDeferExit(Exception):
    """Airflow's scheduler failed the task after its trigger fired (:data:`STALE_DEFER_EXIT`)."""


DAG_FILE = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator

for path in ("sync", "deferrable"):
    with DAG(
        f"bench_task_end_{path}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1),
        catchup=False,
    ):
        NomadDispatchJobOperator(
            task_id="batch",
            job_id="bench-batch",
            meta={"run_for": "{{ dag_run.conf['run_for'] }}"},
            nomad_conn_id=f"nomad_{path}",
            deferrable=path == "deferrable",
            retries=0,
        )
"""

#: airflow-nomad's DAG, in a file of its own: the provider's task processes never import it.
PEER_DAG_FILE = """
import pendulum
from airflow.sdk import DAG
from airflow.providers.standard.sensors.python import PythonSensor
from benchmarks.waiters import airflow_nomad_task

with DAG(
    "bench_task_end_airflow_nomad",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1),
    catchup=False,
    params={"parent": "bench-batch"},
):
    PythonSensor(
        task_id="batch",
        python_callable=airflow_nomad_task.check_job,
        mode="poke",
        poke_interval=airflow_nomad_task.poke_interval(),
        timeout=%(sensor_timeout)d,
        retries=0,
    )
"""


def dag_id(path: str) -> str:
    return DAG_IDS[path]


def _stale_defer_exit(deployment: Deployment, run_id: str) -> str | None:
    """The scheduler's line failing this run's task for a stale executor event, if any."""
    try:
        text = deployment.log_path("scheduler").read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if STALE_DEFER_EXIT in line and run_id in line:
            return line.strip()[:400]
    return None


def _log_tail(
    deployment: Deployment, dag: str, run_id: str, try_number: int, lines: int = 40
) -> str:
    """The last lines of a try's log (the trigger's part included), or why it cannot be read."""
    try:
        text = deployment.task_log(dag, run_id, TASK_ID, try_number)
    except Exception as exc:  # a diagnostic: never hide the failure it explains
        return f"(log unreadable: {exc!r})"
    return "\n".join(text.splitlines()[-lines:])


def _parse_airflow_time(text: str) -> float:
    """Unix seconds of the REST API's ISO 8601 timestamps (``...+00:00`` or ``...Z``)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class TaskEndBenchmark:
    """Sync and deferrable DAG runs through one real deployment, one emulator per path.

    :param profile: sizes (``task_end_runs``, ``task_end_budget_s``).
    :param workdir: scratch directory (Airflow home, component logs).
    :param seed: seed of the random batch lengths.
    """

    def __init__(self, profile: Profile, workdir: Path, seed: int = 11) -> None:
        self.profile = profile
        self.workdir = workdir / "task-end"
        self.rng = random.Random(seed)
        self.emulators = {
            path: EmulatorProcess(workdir / "logs" / f"emulator-task-end-{path}.log")
            for path in PATHS
        }

    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        finally:
            for emulator in self.emulators.values():
                emulator.stop()

    def _run(self) -> dict[str, Any]:
        start_all(list(self.emulators.values()))
        for emulator in self.emulators.values():
            with httpx.Client(base_url=emulator.nomad_addr, timeout=60) as client:
                NomadApi(client).register(mock_batch(PARENT, parameterized=True))
        database = migrate_database(self.workdir / "migrate", self.workdir / "migrated.db")
        env = {
            f"AIRFLOW_CONN_NOMAD_{path.upper()}": json.dumps(
                {"conn_type": "nomad", "host": self.emulators[path].nomad_addr}
            )
            for path in ("sync", "deferrable")
        }
        # The peer's task: today's benchmarks package, the stand-in nomad, its emulator.
        cli = nomad_cli.install(self.workdir / "bin", sys.executable)
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
                ),
                airflow_nomad_task.ADDR_ENV: self.emulators[AIRFLOW_NOMAD_021].nomad_addr,
                airflow_nomad_task.CLI_ENV: str(cli),
                airflow_nomad_task.SCALE_ENV: str(self.profile.baseline_interval_scale),
            }
        )
        deployment = Deployment(self.workdir / "home", database, env=env)
        (deployment.dags / "bench_task_end.py").write_text(textwrap.dedent(DAG_FILE))
        # The sensor gives up before the harness does, so a hung one stops poking.
        peer_dag = PEER_DAG_FILE % {"sensor_timeout": RUN_BOUND - 60}
        (deployment.dags / "bench_task_end_peer.py").write_text(textwrap.dedent(peer_dag))
        lo, hi = self.profile.latency_run_for
        # airflow-nomad's batches end anywhere in its poke cycle, as claim 1's peers' do: its
        # first poke comes as it dispatches, so a batch shorter than the interval would always
        # end early in the cycle and wait most of it.
        cycle = AirflowNomad021Waiter.CHECK_INTERVAL * self.profile.baseline_interval_scale
        spans = {path: (lo, hi) for path in PATHS}
        spans[AIRFLOW_NOMAD_021] = (lo, lo + cycle)
        plans = {
            path: [
                round(self.rng.uniform(*spans[path]), 3) for _ in range(self.profile.task_end_runs)
            ]
            for path in PATHS
        }
        load_before = machine_load()
        started = time.monotonic()
        with deployment:
            for path in PATHS:
                deployment.wait_for_dag(dag_id(path))
            ready_s = time.monotonic() - started
            records: dict[str, list[dict[str, Any]]] = {path: [] for path in PATHS}
            first_runs: dict[str, dict[str, Any]] = {}
            errors: list[str] = []
            airflow_failed: list[str] = []
            threads = [
                threading.Thread(
                    target=self._lane,
                    args=(
                        deployment,
                        path,
                        plans[path],
                        records[path],
                        first_runs,
                        errors,
                        airflow_failed,
                    ),
                )
                for path in PATHS
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        load_after = machine_load()
        return {
            "paths": {
                path: {
                    "label": LABELS[path],
                    "planned": len(plans[path]),
                    "latency_s": summarize(
                        r["latency_s"] for r in records[path] if r["latency_s"] is not None
                    ),
                    "requests_per_task": summarize(r["requests"] for r in records[path]),
                    "requests_by_route": records[path][0]["requests_by_route"]
                    if records[path]
                    else None,
                    "records": records[path],
                    "first_run": first_runs.get(path),
                }
                for path in PATHS
            },
            "deployment_ready_s": ready_s,
            "load_before": load_before,
            "load_after": load_after,
            "errors": errors,
            # Runs Airflow itself failed (see ``STALE_DEFER_EXIT``): reported, not errors of
            # the provider or of this harness.
            "airflow_failed": airflow_failed,
        }

    def _lane(
        self,
        deployment: Deployment,
        path: str,
        runs: list[float],
        records: list[dict[str, Any]],
        first_runs: dict[str, dict[str, Any]],
        errors: list[str],
        airflow_failed: list[str],
    ) -> None:
        """One DAG run after another; stops starting runs once the time budget is spent.

        The first run is kept apart (``first_runs``): it also pays for each component's first
        request after start-up, such as the triggerer building Airflow's in-process execution
        API when a trigger first reads an XCom (the log checkpoint).
        """
        emulator = self.emulators[path]
        with httpx.Client(base_url=emulator.nomad_addr, timeout=60) as client:
            api = NomadApi(client)
            try:
                first_runs[path] = self._one(deployment, path, api, emulator, runs[0])
            except Exception as exc:  # reported; the measured runs still say what they say
                errors.append(f"{path}, first run: {type(exc).__name__}: {exc}")
            started = time.monotonic()
            for run_for in runs:
                try:
                    records.append(self._one(deployment, path, api, emulator, run_for))
                except AirflowStaleDeferExit as exc:
                    airflow_failed.append(f"{path}: {exc}")
                except Exception as exc:  # recorded, and the lane goes on
                    errors.append(f"{path}: {type(exc).__name__}: {exc}")
                if time.monotonic() - started >= self.profile.task_end_budget_s:
                    break

    @staticmethod
    def _one(
        deployment: Deployment, path: str, api: NomadApi, emulator: EmulatorProcess, run_for: float
    ) -> dict[str, Any]:
        emulator.control.reset_counts()
        run_id = deployment.trigger(dag_id(path), conf={"run_for": f"{run_for:.3f}s"})
        ti = deployment.wait_for_state(
            dag_id(path), run_id, TASK_ID, {"success", "failed"}, timeout=RUN_BOUND
        )
        counts = emulator.control.request_counts(service="nomad")
        if ti["state"] != "success":
            stale = _stale_defer_exit(deployment, run_id)
            if stale:
                raise AirflowStaleDeferExit(f"{dag_id(path)} {run_id}: {stale}")
            raise RuntimeError(
                f"{dag_id(path)} {run_id}: task ended {ti['state']}; the end of its log:\n"
                + _log_tail(deployment, dag_id(path), run_id, ti.get("try_number") or 1)
            )
        child = deployment.xcom(dag_id(path), run_id, TASK_ID, "nomad_job_id")
        allocs = api.wait_until_finished(child, timeout=RUN_BOUND)
        finished = finish_times(api.allocation(final_allocation(allocs)["ID"]))["task_finished"]
        end = _parse_airflow_time(ti["end_date"])
        # airflow-nomad's last poke pushed (PASS, STOP) to Airflow, as each poke pushes.
        pushed = (
            deployment.xcom(dag_id(path), run_id, TASK_ID, "return_value")
            if path == AIRFLOW_NOMAD_021
            else None
        )
        return {
            "path": path,
            "run_id": run_id,
            "run_for": run_for,
            "job_id": child,
            "task_finished": finished / 1e9 if finished else None,
            "ti_start": _parse_airflow_time(ti["start_date"]),
            "ti_end": end,
            "latency_s": end - finished / 1e9 if finished else None,
            "requests": sum(counts.values()),
            "requests_by_route": counts,
            "pushed": pushed,
        }
