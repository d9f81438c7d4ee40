"""NomadExecutor as the only executor of a real deployment (scheduler, dag-processor,
api-server, triggerer as separate processes), every task try a child of the runner job.

- Python tasks passing an XCom run to success, each try its own Nomad child whose payload is
  the workload JSON and whose meta names the try; the token is in the payload only.
- A failing task is retried through a new child.
- A task whose runner cannot be placed fails, with Nomad's reason in the task's event log,
  and its child is stopped so it never runs later.
"""

from __future__ import annotations

import json

import pytest
from airflow_deployment import HANG_BOUND
from executor_testlib import (
    DOCKER_RUNNER,
    RUNNER,
    child_job,
    children,
    dag_file,
    nomad_deployment,
    payload_of,
    wait_for_event,
)

DAG_ID = "nomad_executor_xcom"
UNPLACEABLE_DAG_ID = "nomad_executor_unplaceable"

DAG_FILE = f"""
import pendulum
from datetime import timedelta
from airflow.sdk import DAG, task, get_current_context

with DAG({DAG_ID!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):

    @task
    def produce():
        return {{"n": 21}}

    @task
    def double(value):
        print("doubling", value["n"], flush=True)
        return value["n"] * 2

    @task(retries=1, retry_delay=timedelta(seconds=0))
    def flaky():
        if get_current_context()["ti"].try_number == 1:
            raise RuntimeError("first try fails on purpose")
        return "second try"

    double(produce())
    flaky()

with DAG(
    {UNPLACEABLE_DAG_ID!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False
):

    @task(retries=0, executor_config={{"nomad": {{"runner_job_id": {DOCKER_RUNNER!r}}}}})
    def unplaceable():
        return 1

    unplaceable()
"""


@pytest.fixture
def deployment(pristine_airflow_db, tmp_path, nomad_emulator):
    dep = nomad_deployment(tmp_path / "home", pristine_airflow_db, nomad_emulator.nomad_addr)
    (dep.dags / "nomad_executor_dags.py").write_text(dag_file(DAG_FILE))
    with dep:
        yield dep


def _raw_log(dep, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    """The try's log through the REST API, every structured field included."""
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
    return json.dumps(dep._json("GET", path, params={"full_content": True}))


def _event_log(dep, dag_id: str, task_id: str) -> str:
    body = dep._json("GET", "/api/v2/eventLogs", params={"dag_id": dag_id, "task_id": task_id})
    return "\n".join(str(e.get("extra") or "") for e in body["event_logs"])


@pytest.mark.slow
@pytest.mark.timeout(2 * HANG_BOUND)
def test_tasks_run_as_nomad_children_pass_xcom_and_retry(deployment, nomad_emulator):
    dep = deployment
    addr = nomad_emulator.nomad_addr
    run_id = dep.trigger(DAG_ID)

    for task_id in ("produce", "double", "flaky"):
        ti = dep.wait_for_state(DAG_ID, run_id, task_id, {"success", "failed"})
        assert ti["state"] == "success", dep.task_log(DAG_ID, run_id, task_id, ti["try_number"])
    assert dep.xcom(DAG_ID, run_id, "double", "return_value") == 42
    assert dep.wait_for_state(DAG_ID, run_id, "flaky", {"success"})["try_number"] == 2
    # The executor saw each child end through its watch. As with LocalExecutor, "success" means
    # the workload process ran to its end: a task's own failure (flaky's first try) reaches
    # Airflow through the Execution API, and its supervisor still exits 0.
    for task_id, try_number in (("produce", 1), ("double", 1), ("flaky", 1), ("flaky", 2)):
        assert wait_for_event(dep, DAG_ID, task_id, try_number) == "success"

    jobs = children(addr)
    tries = sorted((j["Meta"]["airflow_task_id"], j["Meta"]["airflow_try_number"]) for j in jobs)
    # One child per try: the retry ran as a new child, nothing ran twice.
    assert tries == [("double", "1"), ("flaky", "1"), ("flaky", "2"), ("produce", "1")]
    assert len({j["ID"] for j in jobs}) == 4
    for job in jobs:
        assert job["ID"].startswith(f"{RUNNER}/dispatch-af-")
        assert job["Meta"]["airflow_dag_id"] == DAG_ID
        assert job["Meta"]["airflow_run_id"] == run_id
        assert job["Meta"]["airflow_map_index"] == "-1"
        workload = json.loads(payload_of(job))
        assert workload["type"] == "ExecuteTask"
        assert workload["ti"]["task_id"] == job["Meta"]["airflow_task_id"]
        assert str(workload["ti"]["try_number"]) == job["Meta"]["airflow_try_number"]
        token = workload["token"]
        assert len(token) > 20
        assert token not in json.dumps(job["Meta"]) and token not in job["ID"]
        print(f"payload {job['Meta']['airflow_task_id']}: {len(payload_of(job))} bytes")

    first_try = _raw_log(dep, DAG_ID, run_id, "flaky", 1)
    assert "Task failed with exception" in first_try
    assert "first try fails on purpose" in first_try
    assert "first try fails on purpose" not in _raw_log(dep, DAG_ID, run_id, "flaky", 2)
    assert "doubling 21" in dep.task_log(DAG_ID, run_id, "double", 1)
    counts = nomad_emulator.control.request_counts()
    print("nomad requests by route:", json.dumps(counts, sort_keys=True))


@pytest.mark.slow
@pytest.mark.timeout(2 * HANG_BOUND)
def test_unplaceable_runner_fails_its_task_with_the_reason(deployment, nomad_emulator):
    dep = deployment
    run_id = dep.trigger(UNPLACEABLE_DAG_ID)
    ti = dep.wait_for_state(UNPLACEABLE_DAG_ID, run_id, "unplaceable", {"success", "failed"})
    assert ti["state"] == "failed"
    assert wait_for_event(dep, UNPLACEABLE_DAG_ID, "unplaceable", 1) == "failed"
    reason = dep.wait_for(
        lambda: (
            "could not be placed" in (e := _event_log(dep, UNPLACEABLE_DAG_ID, "unplaceable")) and e
        ),
        "the placement failure in the event log",
    )
    assert "missing drivers" in reason or "docker" in reason, reason
    [child] = children(nomad_emulator.nomad_addr, DOCKER_RUNNER)
    # Stopped, so it never runs once capacity (a docker node) shows up.
    assert dep.wait_for(
        lambda: child_job(nomad_emulator.nomad_addr, child["ID"])["Stop"], "the child to be stopped"
    )
