"""A scheduler SIGKILLed while a NomadExecutor task runs: the next scheduler adopts the running
child instead of running the try again, and the running try's log is served from Nomad.
"""

from __future__ import annotations

import signal

import pytest
from airflow_deployment import HANG_BOUND
from executor_testlib import children, dag_file, executor_events, nomad_deployment, wait_for_event

DAG_ID = "nomad_executor_adopt"
TASK_ID = "held"


def _dag(release: str) -> str:
    return f"""
    import os, time
    import pendulum
    from airflow.sdk import DAG, task

    with DAG({DAG_ID!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):

        @task(retries=0)
        def {TASK_ID}():
            print("held until released", flush=True)
            while not os.path.exists({release!r}):
                time.sleep(0.05)
            print("released", flush=True)
            return "done"

        {TASK_ID}()
    """


@pytest.fixture
def release(tmp_path):
    return tmp_path / "release"


@pytest.fixture
def deployment(pristine_airflow_db, tmp_path, nomad_emulator, release):
    dep = nomad_deployment(
        tmp_path / "home",
        pristine_airflow_db,
        nomad_emulator.nomad_addr,
        # A dead scheduler's tasks are looked at once its heartbeat is this old...
        AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD="3",
        # ...by a check that runs this often (default 5 minutes).
        AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL="2",
    )
    (dep.dags / "nomad_executor_adopt.py").write_text(dag_file(_dag(str(release))))
    with dep:
        yield dep


@pytest.mark.slow
@pytest.mark.timeout(2 * HANG_BOUND)
def test_scheduler_sigkill_adopts_the_running_child(deployment, nomad_emulator, release):
    dep = deployment
    addr = nomad_emulator.nomad_addr
    run_id = dep.trigger(DAG_ID)
    dep.wait_for_state(DAG_ID, run_id, TASK_ID, {"running"})
    [child] = children(addr)

    # The running try's log comes from its allocation, through Nomad's fs API.
    log = dep.wait_for(
        lambda: (
            (text := dep.task_log(DAG_ID, run_id, TASK_ID, 1)) and "held until" in text and text
        ),
        "the running try's log",
    )
    assert "Nomad allocation" in log and child["ID"] in log, log[:2000]

    dep.kill("scheduler", signal.SIGKILL)
    dep.start("scheduler")
    dep.wait_for(
        lambda: "Adopted" in dep.log_path("scheduler", 2).read_text(),
        "the new scheduler to adopt the running try",
    )
    release.touch()

    ti = dep.wait_for_state(DAG_ID, run_id, TASK_ID, {"success", "failed"})
    assert ti["state"] == "success"
    assert ti["try_number"] == 1
    # The adopting scheduler saw the child end; the try ran once, in the one child.
    assert wait_for_event(dep, DAG_ID, TASK_ID, 1) == "success"
    assert [j["ID"] for j in children(addr)] == [child["ID"]]
    assert [e for e in executor_events(dep) if e[3] != "running"] == [
        (DAG_ID, TASK_ID, 1, "success")
    ]
