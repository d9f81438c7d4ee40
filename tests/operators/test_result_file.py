"""result_file: templated, and a retry after an unreadable result never runs the batch again.

The retries are real Airflow retries inside one ``dag.test()`` run (``retries=1`` with no
delay): try 1 fails, the task instance goes up for retry, and try 2 runs with try number 2 in
the same DAG run, so it has the same task identity and a new idempotency token.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
import pytest
from airflow.sdk import DAG
from nomad_testlib import batch_job, children_of

from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FS_CAT_ROUTE = "GET /v1/client/fs/cat/:alloc_id"


def settlement_batch(ledger: Path, writes_result: bool = True) -> str:
    """A batch that records each run in ``ledger``, then writes its result file (or not)."""
    result = (
        """
    name = os.environ["NOMAD_META_business_date"] + ".json"
    with open(os.path.join(os.environ["NOMAD_ALLOC_DIR"], name), "w") as f:
        json.dump({"settled": 50}, f)
    """
        if writes_result
        else ""
    )
    return f"""
    import json, os
    with open({str(ledger)!r}, "a") as f:
        f.write("ran\\n")
    print("settled", flush=True)
    {result.strip()}
    """


def runs(ledger: Path) -> int:
    return len(ledger.read_text().splitlines()) if ledger.exists() else 0


#: Where the batch writes its result for the DAG run's logical date, written out so the
#: retry tests do not depend on result_file being templated.
RESULT_FILE = "alloc/2026-11-24.json"


def settle_dag(dag_id: str, result_file: str = RESULT_FILE, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        NomadDispatchJobOperator(
            task_id="settle",
            job_id="settlement",
            meta={"business_date": "{{ ds }}"},
            result_file=result_file,
            retry_delay=timedelta(0),
            **kwargs,
        )
    return dag


def try_number(result, task_id: str = "settle") -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter_by(dag_id=result.dag_id, run_id=result.run_id, task_id=task_id)
            .one()
        )
        return ti.try_number


@pytest.fixture
def ledger(tmp_path) -> Path:
    """One line per run of the batch."""
    return tmp_path / "ledger"


def register(nomad_client, ledger: Path, writes_result: bool = True) -> None:
    job = batch_job(
        "settlement", settlement_batch(ledger, writes_result), meta_required=("business_date",)
    )
    nomad_client.jobs.register_job({"Job": job})


def test_result_file_is_templated(nomad_conn, nomad_client, dag_runner, capfd, ledger):
    register(nomad_client, ledger)
    result = dag_runner(settle_dag("result_templated", result_file="alloc/{{ ds }}.json"))
    output = capfd.readouterr().out
    # Read from alloc/2026-11-24.json: sent as written, '{{ ds }}' would name no file.
    assert result.state == "success", output[-3000:]
    assert result.xcom("settle")["result"] == {"settled": 50}


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_retry_after_an_unreadable_result_reads_it_again_without_running_the_batch(
    nomad_conn, nomad_client, dag_runner, capfd, ledger, deferrable
):
    register(nomad_client, ledger)
    # The batch succeeds, then reading its result is refused once (a token without read-fs,
    # fixed before the retry): try 1 fails only because of the read.
    nomad_conn.control.inject_fault(FS_CAT_ROUTE, status=403, body="Permission denied", count=1)
    dag = settle_dag("result_unreadable", retries=1, deferrable=deferrable)
    result = dag_runner(dag)
    output = capfd.readouterr().out

    assert result.state == "success", output[-3000:]
    assert try_number(result) == 2
    [child] = children_of(nomad_client, "settlement")
    assert runs(ledger) == 1
    assert (
        "The batch succeeded but its result file 'alloc/2026-11-24.json' could not be read"
        in output
    )
    assert f"A retry of this task reads the result of {child['ID']} again" in output
    assert f"Adopting {child['ID']}: an earlier try ran it to success" in output
    summary = result.xcom("settle")
    assert (summary["job_id"], summary["adopted"]) == (child["ID"], "succeeded")
    assert summary["result"] == {"settled": 50}


def test_a_result_that_is_never_written_fails_every_try_and_runs_the_batch_once(
    nomad_conn, nomad_client, dag_runner, capfd, ledger
):
    register(nomad_client, ledger, writes_result=False)
    result = dag_runner(settle_dag("result_missing", retries=2))
    output = capfd.readouterr().out

    assert result.state == "failed", output[-3000:]
    assert try_number(result) == 3
    [child] = children_of(nomad_client, "settlement")
    assert runs(ledger) == 1
    assert output.count(f"Adopting {child['ID']}: an earlier try ran it to success") == 2
    assert "could not be read" in output


def test_the_result_is_read_from_the_allocation_of_the_task_that_writes_it(
    nomad_conn, nomad_client, dag_runner, capfd
):
    # Two task groups, two allocations: only the 'main' task of group 'batch' writes a result.
    import copy

    job = batch_job(
        "settlement",
        """
        import json, os
        with open(os.path.join(os.environ["NOMAD_TASK_DIR"], "out.json"), "w") as f:
            json.dump({"settled": 50}, f)
        """,
        meta_required=("business_date",),
    )
    prep = copy.deepcopy(job["TaskGroups"][0])
    prep["Name"] = "prep"
    prep["Tasks"][0]["Name"] = "fetch"
    prep["Tasks"][0]["Config"]["args"] = ["-c", "print('fetched')"]
    job["TaskGroups"].insert(0, prep)
    nomad_client.jobs.register_job({"Job": job})

    result = dag_runner(settle_dag("result_of_one_group", result_file="main/local/out.json"))
    output = capfd.readouterr().out
    assert result.state == "success", output[-3000:]
    assert result.xcom("settle")["result"] == {"settled": 50}
