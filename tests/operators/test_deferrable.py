"""Deferrable dispatches: the wait and the log stream happen in the trigger."""

from __future__ import annotations

import re
from datetime import timedelta

import pendulum
import pytest
from airflow.sdk import DAG
from nomad_testlib import RecordingTaskInstance, batch_job, children_of

from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator, NomadRunJobOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")

DESK_BATCH = """
    import os, sys
    n = os.environ["NOMAD_META_n"]
    for j in range(5):
        print(f"batch {n} line {j}")
    print(f"batch {n} done", file=sys.stderr)
"""


@pytest.mark.slow
def test_fifty_deferred_dispatches_each_log_their_batch_once(
    nomad_conn, nomad_client, dag_runner, capfd
):
    nomad_client.jobs.register_job({"Job": batch_job("desk", DESK_BATCH, meta_required=("n",))})
    with DAG("fifty", schedule=None, start_date=START, catchup=False) as dag:
        NomadDispatchJobOperator.partial(task_id="batch", job_id="desk", deferrable=True).expand(
            meta=[{"n": str(i)} for i in range(50)]
        )
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "success", output[-3000:]
    children = children_of(nomad_client, "desk")
    assert len(children) == 50
    # dag.test runs every task in one process: each batch's lines are told apart by the
    # allocation label the follower puts on them.
    for child in children:
        n = nomad_client.job.get_job(child["ID"])["Meta"]["n"]
        [alloc] = nomad_client.job.get_allocations(child["ID"])
        label = re.escape(alloc["ID"][:8])
        stdout = re.findall(rf"\[main {label} stdout\] (.*?)\s+\[", output)
        stderr = re.findall(rf"\[main {label} stderr\] (.*?)\s+\[", output)
        assert stdout == [f"batch {n} line {j}" for j in range(5)], n
        assert stderr == [f"batch {n} done"], n


def test_deferred_failure_is_rechecked_and_reported(nomad_conn, nomad_client, dag_runner, capfd):
    script = "import sys; print('bad books', file=sys.stderr); sys.exit(4)"
    nomad_client.jobs.register_job({"Job": batch_job("deffail", script)})
    with DAG("deferred_fail", schedule=None, start_date=START, catchup=False) as dag:
        NomadDispatchJobOperator(task_id="settle", job_id="deffail", deferrable=True)
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "exited with code 4" in output and "bad books" in output


def test_deferred_deadline_from_execution_timeout_stops_the_child(
    nomad_conn, nomad_client, dag_runner, capfd
):
    nomad_client.jobs.register_job(
        {"Job": batch_job("defslow", "import time; print('up', flush=True); time.sleep(600)")}
    )
    with DAG("deferred_timeout", schedule=None, start_date=START, catchup=False) as dag:
        NomadDispatchJobOperator(
            task_id="settle",
            job_id="defslow",
            deferrable=True,
            execution_timeout=timedelta(seconds=4),
        )
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "NomadJobTimeoutError" in output
    [child] = children_of(nomad_client, "defslow")
    assert nomad_client.job.get_job(child["ID"])["Stop"] is True


def _deferral(operator, try_number: int):
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": RecordingTaskInstance(try_number)})
    return deferred.value.trigger


@pytest.mark.parametrize("kind", ["dispatch", "run"])
def test_only_a_job_this_try_created_defers_as_new(nomad_conn, nomad_client, kind):
    # New: the shared watch may follow it from the events alone. An adopted job (a later try
    # finding the batch an earlier one started) existed before: its trigger reads its state.
    mock = {"driver": "mock_driver", "config": {"run_for": "60s"}}
    if kind == "dispatch":
        nomad_client.jobs.register_job({"Job": batch_job("long", "", **mock)})

        def operator():
            return NomadDispatchJobOperator(
                task_id="batch", job_id="long", deferrable=True, stream_logs=False
            )
    else:
        job = batch_job("long-run", "", parameterized=False, **mock)

        def operator():
            return NomadRunJobOperator(task_id="batch", job=job, deferrable=True, stream_logs=False)

    created = _deferral(operator(), try_number=1)
    # Where this try's write created it: its first evaluation's index (EvalCreateIndex).
    evaluation = nomad_client.evaluation.get_evaluation(created.dispatch_eval_id)
    assert created.created_index == evaluation["CreateIndex"]
    assert created.dispatch_eval_id
    adopted = _deferral(operator(), try_number=2)
    assert adopted.job_id == created.job_id
    assert adopted.created_index is None
    assert adopted.adopted == "running"
    nomad_client.job.deregister_job(created.job_id)
