"""A ``@task.nomad`` DAG whose function blocks until a file exists, for worker-death tests.

The worker process that is killed and the test process that retries build the DAG from this one
module, so both tries ship the same function under the same task instance identity.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, task

DAG_ID = "task_nomad_adopt"


@task
def gate_files(release: str, runs: str) -> dict:
    return {"release": release, "runs": runs}


@task.nomad()
def gated_rollup(files: dict) -> dict:
    import os
    import time

    # One line per start of the function: the test counts how often it really ran.
    with open(files["runs"], "a") as runs:
        runs.write(os.environ["NOMAD_ALLOC_ID"] + "\n")
    print("rollup started", flush=True)
    while not os.path.exists(files["release"]):
        time.sleep(0.02)
    print("rollup finished", flush=True)
    return {"desk": "rates", "net": "10448.0"}


@task
def book(summary: dict) -> str:
    return f"{summary['desk']} {summary['net']}"


def build_dag(release: str, runs: str, retries: int = 0) -> DAG:
    with DAG(
        DAG_ID,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        default_args={"retries": retries, "retry_delay": dt.timedelta(seconds=0)},
    ) as dag:
        book(gated_rollup(gate_files(release, runs)))
    return dag
