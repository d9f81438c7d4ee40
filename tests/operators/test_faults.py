"""Injected faults while following and streaming: right outcome, complete log, once."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pendulum
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowTaskTimeout
from nomad_testlib import RecordingTaskInstance, act_when, batch_job, children_of

from airflow_provider_nomad.exceptions import NomadJobFailedError
from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator, NomadRunJobOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")

CHATTY = """
    import sys, time
    for i in range(400):
        print(f"line {i:04d} " + "x" * 200)
        if i % 100 == 0:
            print(f"progress {i}", file=sys.stderr)
            time.sleep(0.05)
"""


def test_faults_during_wait_and_log_stream(nomad_conn, nomad_client, dag_runner, capfd):
    nomad_client.jobs.register_job({"Job": batch_job("chatty", CHATTY)})
    control = nomad_conn.control
    control.inject_fault(
        route="GET /v1/job/:job_id/allocations", status=500, body="No cluster leader", count=2
    )
    control.inject_fault(route="GET /v1/client/fs/logs/:alloc_id", drop=True, count=2)
    control.inject_fault(route="GET /v1/client/fs/logs/:alloc_id", status=503, count=1)
    control.inject_fault(route="*", status=None, delay=0.2, probability=0.2, seed=7, count=None)

    with DAG("faults", schedule=None, start_date=START, catchup=False) as dag:
        NomadDispatchJobOperator(task_id="settle", job_id="chatty")
    result = dag_runner(dag)
    output = capfd.readouterr().out

    assert result.state == "success", output[-3000:]
    lines = re.findall(r"\[main [0-9a-f]{8} stdout\] (line \d{4})", output)
    assert lines == [f"line {i:04d}" for i in range(400)]
    progress = re.findall(r"\[main [0-9a-f]{8} stderr\] (progress \d+)", output)
    assert progress == [f"progress {i}" for i in range(0, 400, 100)]
    assert len(children_of(nomad_client, "chatty")) == 1


def test_execution_timeout_stops_the_child(nomad_conn, nomad_client, dag_runner, capfd):
    nomad_client.jobs.register_job(
        {"Job": batch_job("endless", "import time\nprint('started', flush=True)\ntime.sleep(600)")}
    )
    with DAG("timeout", schedule=None, start_date=START, catchup=False) as dag:
        NomadDispatchJobOperator(
            task_id="settle", job_id="endless", execution_timeout=timedelta(seconds=3)
        )
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "Stopping Nomad job" in output and "execution_timeout" in output
    [child] = children_of(nomad_client, "endless")
    assert nomad_client.job.get_job(child["ID"])["Stop"] is True


def test_a_kill_while_waiting_stops_the_child_not_its_parent(nomad_conn, nomad_client):
    nomad_client.jobs.register_job(
        {"Job": batch_job("killable", "import time\nprint('up', flush=True)\ntime.sleep(600)")}
    )
    operator = NomadDispatchJobOperator(task_id="settle", job_id="killable", stream_logs=False)
    # Airflow calls on_kill from the task process's SIGTERM handler while execute() waits.
    killed = act_when(lambda: operator._awaited_child is not None, operator.on_kill)
    with pytest.raises(NomadJobFailedError, match="stopped"):
        operator.execute({"ti": RecordingTaskInstance(1)})
    assert killed()
    [child] = children_of(nomad_client, "killable")
    assert nomad_client.job.get_job(child["ID"])["Stop"] is True
    assert nomad_client.job.get_job("killable")["Stop"] is False


@pytest.mark.parametrize("waits", [True, False], ids=["after-its-end", "not-waited-for"])
def test_a_kill_once_the_task_is_done_with_its_child_leaves_it_alone(
    nomad_conn, nomad_client, waits
):
    # Airflow kills a task process that is slow to report its success ([core]
    # task_success_overtime; seen when the api-server hung) and calls on_kill: the child it saw
    # end, or was told not to wait for, is not the kill's to stop.
    run = {"driver": "mock_driver", "config": {"run_for": "0.1s" if waits else "600s"}}
    nomad_client.jobs.register_job({"Job": batch_job("settled", "", **run)})
    operator = NomadDispatchJobOperator(
        task_id="settle", job_id="settled", stream_logs=False, wait_for_completion=waits
    )
    operator.execute({"ti": RecordingTaskInstance(1)})
    operator.on_kill()
    [child] = children_of(nomad_client, "settled")
    assert nomad_client.job.get_job(child["ID"])["Stop"] is False
    assert child["Status"] == ("dead" if waits else "running")


class _KilledAtFirstPush(RecordingTaskInstance):
    """A task instance whose first XCom push is interrupted by a kill, as Airflow delivers it.

    ``signal``: SIGTERM's handler calls ``on_kill`` and returns, so ``execute`` goes on;
    ``timeout``: ``execution_timeout`` raises in ``execute``, then Airflow calls ``on_kill``.
    """

    def __init__(self, operator, kill: str) -> None:
        super().__init__(1)
        self.operator = operator
        self.kill = kill

    def xcom_push(self, key, value) -> None:
        if not self.pushed:
            if self.kill == "timeout":
                raise AirflowTaskTimeout()
            self.operator.on_kill()
        super().xcom_push(key, value)


def _endless_jobspec(name: str) -> str:
    return json.dumps({"Job": batch_job(name, "import time\ntime.sleep(600)", parameterized=False)})


@pytest.mark.parametrize("kill", ["signal", "timeout"])
@pytest.mark.parametrize("operator_kind", ["dispatch", "run"])
def test_a_kill_between_the_dispatch_and_the_wait_stops_the_job(
    nomad_conn, nomad_client, operator_kind, kill
):
    # Between Nomad's answer and the start of the wait the operator pushes the job's ID and
    # link: round trips to Airflow that a kill can land in. The job is this try's by then.
    if operator_kind == "dispatch":
        nomad_client.jobs.register_job({"Job": batch_job("pushed", "import time\ntime.sleep(600)")})
        operator = NomadDispatchJobOperator(task_id="settle", job_id="pushed", stream_logs=False)
    else:
        operator = NomadRunJobOperator(
            task_id="settle", job=_endless_jobspec("pushed"), stream_logs=False
        )
    ti = _KilledAtFirstPush(operator, kill)
    expected = AirflowTaskTimeout if kill == "timeout" else NomadJobFailedError
    with pytest.raises(expected):
        operator.execute({"ti": ti})
    if kill == "timeout":
        operator.on_kill()  # what the task runner does with AirflowTaskTimeout
    [job] = [j for j in nomad_client.jobs.get_jobs(prefix="pushed") if j["ID"] != "pushed"]
    assert nomad_client.job.get_job(job["ID"])["Stop"] is True
