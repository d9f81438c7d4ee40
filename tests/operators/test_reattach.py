"""Never two children: a killed worker's retry adopts the running child, retried requests dedupe."""

from __future__ import annotations

import textwrap
from pathlib import Path

import nomad
import pendulum
from airflow.sdk import DAG
from nomad_testlib import (
    act_when_logged,
    batch_job,
    children_of,
    client_of,
    point_connection_at,
)
from process_testlib import kill_worker_once_it_prints

from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
TESTS_DIR = Path(__file__).parent.parent


def gated_batch(release: Path) -> str:
    return f"""
        import os, time
        print("batch started", flush=True)
        while not os.path.exists({str(release)!r}):
            time.sleep(0.02)
        print("batch finished")
    """


def reattach_dag(**kwargs) -> DAG:
    with DAG("reattach", schedule=None, start_date=START, catchup=False) as dag:
        NomadDispatchJobOperator(task_id="settle", job_id="gated", **kwargs)
    return dag


WORKER_SCRIPT = """
import sys
sys.path.insert(0, {here!r})
import pendulum
from airflow.sdk import DAG
from nomad_testlib import run_dag
from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator

with DAG("reattach", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         catchup=False) as dag:
    NomadDispatchJobOperator(task_id="settle", job_id="gated")
run_dag(dag)
"""


def child_left_by_a_killed_worker(nomad_client: nomad.Nomad, tmp_path: Path) -> tuple[dict, Path]:
    """Register the gated batch, run the DAG in a worker and SIGKILL it while the child runs;
    return the child and the file that releases its batch."""
    release = tmp_path / "release"
    nomad_client.jobs.register_job({"Job": batch_job("gated", gated_batch(release))})
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER_SCRIPT.format(here=str(TESTS_DIR))))
    # The worker is following the child once the batch's first line reached its task log.
    kill_worker_once_it_prints(script, "batch started")
    [child] = children_of(nomad_client, "gated")
    return child, release


def test_retry_after_sigkill_adopts_the_running_child(nomad_side, dag_runner, capfd, tmp_path):
    _, nomad_client = nomad_side
    child, release = child_left_by_a_killed_worker(nomad_client, tmp_path)
    assert child["Status"] == "running"

    released = act_when_logged(capfd, "Adopting", release.touch)
    result = dag_runner(reattach_dag())
    assert released(), "the retry never logged that it adopted the child"
    output = capfd.readouterr().out

    assert result.state == "success", output[-3000:]
    assert f"Adopting {child['ID']}" in output
    assert [c["ID"] for c in children_of(nomad_client, "gated")] == [child["ID"]]
    assert "batch finished" in output


def test_after_the_acl_token_changed_a_retry_refuses_its_own_running_child(
    nomad_emulator_acl, monkeypatch, dag_runner, capfd, tmp_path
):
    # The child was signed under the old token, so it cannot be told from a planted one: the
    # retry fails, naming it, rather than adopt it or run the batch a second time beside it.
    old = nomad_emulator_acl.token
    new = nomad_emulator_acl.control.create_token(
        capabilities=("dispatch-job", "read-job", "list-jobs", "read-logs", "submit-job")
    )
    point_connection_at(nomad_emulator_acl, monkeypatch, old)
    nomad_client = client_of(nomad_emulator_acl, old)
    child, release = child_left_by_a_killed_worker(nomad_client, tmp_path)

    point_connection_at(nomad_emulator_acl, monkeypatch, new)
    try:
        result = dag_runner(reattach_dag())
        output = capfd.readouterr().out
    finally:
        release.touch()

    assert result.state == "failed"
    assert "NomadForeignChildError" in output and child["ID"] in output, output[-3000:]
    assert "ACL token changed" in output and old not in output and new not in output
    assert [c["ID"] for c in children_of(nomad_client, "gated")] == [child["ID"]]


def test_dispatch_retried_after_a_dropped_response_creates_no_second_child(
    nomad_side, dag_runner, capfd
):
    nomad_conn, nomad_client = nomad_side
    nomad_client.jobs.register_job({"Job": batch_job("once", "print('ran once')")})
    # Nomad creates the child, then the connection drops before the answer arrives: the
    # hook retries the request, and the idempotency token makes Nomad return the same child.
    nomad_conn.control.inject_fault(
        route="POST /v1/job/:job_id/dispatch", drop=True, after_processing=True, count=1
    )
    with DAG("dropped", schedule=None, start_date=START, catchup=False) as dag:
        NomadDispatchJobOperator(task_id="settle", job_id="once")
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "success", output[-3000:]
    children = children_of(nomad_client, "once")
    assert len(children) == 1
    assert nomad_conn.control.request_counts()["POST /v1/job/:job_id/dispatch"] == 2


def test_at_most_once_batch_adopts_a_succeeded_child(nomad_side, dag_runner, capfd):
    _, nomad_client = nomad_side
    nomad_client.jobs.register_job({"Job": batch_job("once", "print('ran')")})

    def run() -> str:
        with DAG("at_most_once", schedule=None, start_date=START, catchup=False) as dag:
            NomadDispatchJobOperator(task_id="settle", job_id="once", adopt_succeeded_child=True)
        assert dag_runner(dag).state == "success"
        return capfd.readouterr().out

    run()
    [child] = children_of(nomad_client, "once")
    second = run()
    assert "an earlier try ran it to success" in second
    assert [c["ID"] for c in children_of(nomad_client, "once")] == [child["ID"]]
