"""The test deployment answers REST writes while task processes write through the execution API.

In one ``airflow api-server`` process on SQLite the two deadlocked: a REST write logs its action
in an ``async`` dependency that commits on the event loop, and it waited there for the write
lock of a task's XCom write, whose session only that loop could close. The whole server hung
until SQLite's busy timeout; a run of the benchmarks' task-end claim hung on it. The deployment
now runs the two APIs as two processes (``testing/airflow_deployment.py``, ``COMMANDS``).
"""

from __future__ import annotations

import textwrap

import pytest
from airflow_deployment import HANG_BOUND, Deployment

DAG_FILE = """
import pendulum
from airflow.sdk import DAG, task

with DAG("xcom_writer", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):

    @task
    def write_xcoms(ti=None):
        # Until the deployment is torn down: every push is a write through the execution API.
        for i in range(10**9):
            ti.xcom_push(key=f"k{i % 50}", value=i)

    write_xcoms()

with DAG(
    "never_runs",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=True,
):

    @task
    def nothing():
        pass

    nothing()
"""

#: REST writes to send while the task writes. Before the split, one process hung within 2 and
#: within 62 triggers (two runs); split, 1,200 triggers went through beside 1,883 XCom writes.
TRIGGERS = 200


def _xcom_writes(dep: Deployment) -> int:
    log = dep.log_path("execution-api").read_text(errors="replace")
    return sum(1 for line in log.splitlines() if "method=POST path=/execution/xcoms/" in line)


@pytest.mark.slow
@pytest.mark.timeout(2 * HANG_BOUND)
def test_rest_writes_go_through_while_a_task_writes_xcoms(pristine_airflow_db, tmp_path):
    dep = Deployment(tmp_path / "home", pristine_airflow_db)
    (dep.dags / "writes.py").write_text(textwrap.dedent(DAG_FILE))
    with dep:
        dep.wait_for_dag("never_runs")
        dep.trigger("xcom_writer")
        dep.wait_for(lambda: _xcom_writes(dep) > 0, "the task's first XCom write")
        before = _xcom_writes(dep)
        # Each trigger is a REST write (a DAG run of a paused DAG, and its action log); the
        # client's 60 s read timeout turns a hung server into a failure.
        run_ids = [dep.trigger("never_runs") for _ in range(TRIGGERS)]
        during = _xcom_writes(dep) - before
    assert len(set(run_ids)) == TRIGGERS
    # The collision needs both kinds of write at once.
    assert during > 0, "the task wrote no XCom while the DAG runs were triggered"
