"""A clear asks for the batch to run again: a retry after the cleared try never reports the
result of a job from before the clear (real scheduler, worker and api-server).

Try 1 succeeds and its result is read. The task instance is cleared; the cleared try's batch
fails; its retry must run the batch again, not adopt try 1's succeeded job and report that
stale result as this run's.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from airflow_deployment import HANG_BOUND, deployment_for, register_on_fresh_emulator
from nomad_testlib import batch_job

DAG_ID = "settle_with_result"
TASK_ID = "settle"
PARENT = "settle-result"


def settlement(broken: Path) -> str:
    """Writes its result, or fails once ``broken`` exists."""
    return f"""
        import json, os, sys
        if os.path.exists({str(broken)!r}):
            print("settlement failed", flush=True)
            sys.exit(1)
        with open(os.path.join(os.environ["NOMAD_ALLOC_DIR"], "result.json"), "w") as f:
            json.dump({{"settled": "before the clear"}}, f)
    """


def dag_file(operator: str, broken: Path) -> str:
    """The DAG: ``operator`` with a result file and one retry."""
    if operator == "dispatch":
        task = f"NomadDispatchJobOperator(job_id={PARENT!r}, "
    else:
        job = batch_job(PARENT, settlement(broken), parameterized=False)
        task = f"NomadRunJobOperator(job={job!r}, "
    return f"""
import datetime as dt
import pendulum
from airflow.sdk import DAG
from airflow_provider_nomad.operators.nomad import (
    NomadDispatchJobOperator,
    NomadRunJobOperator,
)


with DAG({DAG_ID!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    {task}
        task_id={TASK_ID!r},
        result_file="alloc/result.json",
        retries=1,
        retry_delay=dt.timedelta(0),
    )
"""


@pytest.fixture
def broken(tmp_path) -> Path:
    return tmp_path / "broken"


@pytest.fixture
def cluster(nomad_emulator, broken):
    register_on_fresh_emulator(nomad_emulator, batch_job(PARENT, settlement(broken)))
    return nomad_emulator


@pytest.fixture(params=["dispatch", "run-job"])
def operator(request) -> str:
    return request.param


@pytest.fixture
def deployment(pristine_airflow_db, tmp_path, cluster, operator, broken):
    files = {"settle_with_result.py": dag_file(operator, broken)}
    with deployment_for(pristine_airflow_db, tmp_path / "home", cluster, files) as dep:
        yield dep


def _jobs(cluster, operator: str) -> list[dict]:
    """The jobs the task ran, oldest first (children, or jobs registered per try)."""
    prefix = f"{PARENT}/dispatch-" if operator == "dispatch" else f"{PARENT}-af-"
    with httpx.Client(base_url=cluster.nomad_addr, timeout=30) as nomad:
        stubs = nomad.get("/v1/jobs", params={"prefix": prefix}).json()
        return [
            nomad.get(f"/v1/job/{s['ID'].replace('/', '%2F')}").json()
            for s in sorted(stubs, key=lambda s: s["CreateIndex"])
        ]


@pytest.mark.slow
@pytest.mark.timeout(2 * HANG_BOUND)
def test_the_retry_of_a_cleared_try_never_reports_a_result_from_before_the_clear(
    deployment, cluster, operator, broken
):
    dep = deployment
    run_id = dep.trigger(DAG_ID)
    first_run = dep.wait_for_state(DAG_ID, run_id, TASK_ID, {"success", "failed"})
    assert first_run["state"] == "success", dep.task_log(DAG_ID, run_id, TASK_ID, 1)[-3000:]
    [before_clear] = _jobs(cluster, operator)
    # Cleared before the scheduler has marked the run successful, the clear can be lost to
    # that write (see ``Deployment.clear``).
    dep.wait_for_run_state(DAG_ID, run_id, {"success"})

    broken.touch()
    dep.clear(DAG_ID, run_id, TASK_ID)

    def retry_of_the_cleared_try_ended() -> dict | None:
        ti = dep.task_instance(DAG_ID, run_id, TASK_ID)
        return ti if ti["try_number"] == 3 and ti["state"] in ("success", "failed") else None

    ti = dep.wait_for(retry_of_the_cleared_try_ended, "the retry of the cleared try to end")
    log = dep.task_log(DAG_ID, run_id, TASK_ID, 3)
    assert ti["state"] == "failed", log[-3000:]
    assert f"Adopting {before_clear['ID']}" not in log
    cleared, retried = _jobs(cluster, operator)[1:]
    # The cleared try marked its job; its retry ran the batch again.
    if operator == "run-job":
        assert (cleared["ID"][-5:], retried["ID"][-5:]) == ("-try2", "-try3")
        assert cleared["Meta"].get("airflow_cleared") == "true"
        assert "airflow_cleared" not in retried["Meta"]
    else:
        assert cleared["DispatchIdempotencyToken"].endswith("-try2-cleared")
        assert retried["DispatchIdempotencyToken"].endswith("-try3")
