"""A worker SIGKILLed while it follows a batch, then the task retried: the batch runs once.

The worker is a separate process running the DAG with real Airflow; it is killed (process group,
SIGKILL: no ``on_kill``, no cleanup) once the batch's first line reached its task log, i.e.
while it waits. The retry is the task instance's next try in the same DAG run, as the scheduler
would start it. Counted: the children of the task identity in Nomad, and the executions of the
batch itself (each appends to a ledger file when it starts).
"""

from __future__ import annotations

import json
import runpy
import textwrap
from pathlib import Path

import pytest
from nomad_testlib import DagRunResult, batch_job
from process_testlib import kill_worker_once_it_prints
from reliability_testlib import (
    OutputTrigger,
    children_of_task,
    executions,
    latest_run_id,
    retry_task_instance,
    streamed_lines,
)

HERE = Path(__file__).parent
TESTS_DIR = HERE.parent
PARENT = "eod-settlement"

GATED_BATCH = """
    import os, time
    with open(os.path.join(os.environ["NOMAD_META_ledger"], "settle"), "a") as ledger:
        ledger.write("started\\n")
    print("batch started", flush=True)
    while not os.path.exists(os.environ["NOMAD_META_release"]):
        time.sleep(0.02)
    for i in range(20):
        print(f"settled {i}")
"""

DAG_FILE = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator

with DAG({dag_id!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         catchup=False) as dag:
    NomadDispatchJobOperator(
        task_id="settle",
        job_id={parent!r},
        meta={{"ledger": {ledger!r}, "release": {release!r}}},
        retries=1,
        adopt_succeeded_child={adopt!r},
    )
"""

WORKER = """
import runpy, sys
sys.path[:0] = [{tests!r}]
from nomad_testlib import run_dag
run_dag(runpy.run_path({dag_file!r})["dag"])
"""


@pytest.fixture
def setup(nomad_conn, nomad_client, airflow_db, tmp_path):
    nomad_client.jobs.register_job(
        {"Job": batch_job(PARENT, GATED_BATCH, meta_required=("ledger", "release"))}
    )
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    return ledger, tmp_path / "release"


def write_dag(tmp_path: Path, dag_id: str, ledger: Path, release: Path, adopt: bool) -> Path:
    path = tmp_path / f"{dag_id}.py"
    path.write_text(
        DAG_FILE.format(
            dag_id=dag_id, parent=PARENT, ledger=str(ledger), release=str(release), adopt=adopt
        )
    )
    return path


def kill_worker_while_it_waits(tmp_path: Path, dag_file: Path) -> None:
    """Start a worker running the DAG; SIGKILL it once the batch's first line is in its log."""
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER.format(tests=str(TESTS_DIR), dag_file=str(dag_file))))
    kill_worker_once_it_prints(script, "] batch started")


def test_retry_adopts_the_child_the_killed_worker_was_following(
    setup, nomad_client, capfd, tmp_path
):
    ledger, release = setup
    dag_file = write_dag(tmp_path, "killed_while_running", ledger, release, adopt=False)
    kill_worker_while_it_waits(tmp_path, dag_file)
    run_id = latest_run_id("killed_while_running")
    [child] = children_of_task(nomad_client, PARENT, "killed_while_running", "settle", run_id)
    assert child["Status"] == "running"
    assert executions(ledger, "settle") == 1

    dag = runpy.run_path(str(dag_file))["dag"]
    capfd.readouterr()  # the killed worker's setup output is not the retry's log
    with OutputTrigger(capfd, f"Adopting {child['ID']}", release.touch) as adoption:
        state, try_number = retry_task_instance(dag, run_id, "settle")
    output = adoption.output()

    assert adoption.fired.is_set(), output[-3000:]
    assert (state, try_number) == ("success", 2), output[-3000:]
    # Try 2's log says what became of the batch try 1's dead worker left behind.
    assert f"Adopting {child['ID']}: dispatched by try 1 of this task instance" in output
    assert "try 2 follows the same batch to its end instead of running it a second time" in output
    children = children_of_task(nomad_client, PARENT, "killed_while_running", "settle", run_id)
    assert [c["ID"] for c in children] == [child["ID"]]
    assert executions(ledger, "settle") == 1
    assert streamed_lines(output).of("stdout") == ["batch started"] + [
        f"settled {i}" for i in range(20)
    ]
    run = DagRunResult("", {}, run_id, "killed_while_running")
    assert run.xcom("settle", "nomad_job_id") == child["ID"]
    summary = run.xcom("settle")
    assert (summary["status"], summary["adopted"]) == ("succeeded", "running")


def test_at_most_once_retry_adopts_the_child_that_succeeded_meanwhile(
    setup, nomad_conn, nomad_client, capfd, tmp_path
):
    ledger, release = setup
    dag_file = write_dag(tmp_path, "killed_then_succeeded", ledger, release, adopt=True)
    kill_worker_while_it_waits(tmp_path, dag_file)
    run_id = latest_run_id("killed_then_succeeded")
    [child] = children_of_task(nomad_client, PARENT, "killed_then_succeeded", "settle", run_id)
    # The batch ends while no worker follows it.
    release.touch()
    nomad_conn.control.wait_job_status(child["ID"], ["dead"])

    dag = runpy.run_path(str(dag_file))["dag"]
    capfd.readouterr()
    state, try_number = retry_task_instance(dag, run_id, "settle")
    output = capfd.readouterr().out

    assert (state, try_number) == ("success", 2), output[-3000:]
    assert f"Adopting {child['ID']}: an earlier try ran it to success" in output
    children = children_of_task(nomad_client, PARENT, "killed_then_succeeded", "settle", run_id)
    assert [c["ID"] for c in children] == [child["ID"]]
    assert executions(ledger, "settle") == 1
    summary = DagRunResult("", {}, run_id, "killed_then_succeeded").xcom("settle")
    assert (summary["job_id"], summary["status"], summary["adopted"]) == (
        child["ID"],
        "succeeded",
        "succeeded",
    )
    assert json.dumps(summary)  # the return value stays JSON-friendly
