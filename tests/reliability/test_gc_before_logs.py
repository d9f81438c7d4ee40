"""Allocations garbage-collected before their logs were pulled.

Two kinds of garbage collection: the client's (it keeps only ~50 allocation directories, so the
logs are gone, ``404 Unknown allocation``, while the servers still know the allocation and how it
ended) and the servers' (``control.gc_job``: the allocations, evaluations and the dead job are
gone). In the first case the outcome is still read right and the task log says why the logs are
missing; in the second, nothing can be known any more, and the task must say so at once instead
of waiting for something that will never happen, or calling a finished batch unfinished.
"""

from __future__ import annotations

import asyncio

import pendulum
import pytest
from airflow.sdk import DAG
from nomad_testlib import HANG_BOUND, batch_job, dispatch
from reliability_testlib import streamed_lines

from airflow_provider_nomad.exceptions import NomadNotFoundError
from airflow_provider_nomad.hooks.nomad import NomadAsyncHook
from airflow_provider_nomad.nomad.follow import JobFollower
from airflow_provider_nomad.nomad.outcome import JobResult
from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator
from airflow_provider_nomad.sensors.nomad import NomadAllocationSensor
from airflow_provider_nomad.triggers.nomad import NomadJobEvent

START = pendulum.datetime(2026, 1, 1, tz="UTC")

BATCH = """
    import os, sys
    print("reconciled 120 accounts")
    print("2 breaks found", file=sys.stderr)
    sys.exit(int(os.environ["NOMAD_META_exit_code"]))
"""


@pytest.fixture
def ended_child(nomad_conn, nomad_client):
    """Dispatch the batch with an exit code and wait until it ended; returns (job, alloc)."""
    nomad_client.jobs.register_job({"Job": batch_job("recon", BATCH, meta_required=("exit_code",))})

    def run(exit_code: int) -> tuple[str, dict]:
        child = dispatch(nomad_client, "recon", meta={"exit_code": str(exit_code)})
        job_id = child["DispatchedJobID"]
        nomad_conn.control.wait_job_status(job_id, ["dead"])
        [alloc] = nomad_client.job.get_allocations(job_id)
        return job_id, alloc

    return run


def client_collected_logs(control, alloc_id: str) -> None:
    """What Nomad answers for the logs once the client removed the allocation's directory."""
    control.inject_fault(
        "GET /v1/client/fs/logs/:alloc_id",
        status=404,
        body=f'Unknown allocation "{alloc_id}"',
        count=None,
    )


@pytest.mark.parametrize("exit_code", [0, 4])
def test_sensor_reads_the_outcome_and_says_why_logs_are_missing(
    exit_code, nomad_conn, nomad_client, ended_child, dag_runner, capfd
):
    job_id, alloc = ended_child(exit_code)
    client_collected_logs(nomad_conn.control, alloc["ID"])
    with DAG(f"gc_client_{exit_code}", schedule=None, start_date=START, catchup=False) as dag:
        NomadAllocationSensor(
            task_id="wait_recon",
            job_id=job_id,
            fetch_logs=True,
            poke_interval=5,
            timeout=HANG_BOUND,
        )
    result = dag_runner(dag)
    output = capfd.readouterr().out

    expected = "success" if exit_code == 0 else "failed"
    assert result.task_states == {"wait_recon": expected}, output[-3000:]
    assert (
        "logs are no longer available: Nomad has garbage-collected allocation "
        f'{alloc["ID"]} (Unknown allocation "{alloc["ID"]}")'
    ) in output
    assert streamed_lines(output).by_alloc == {}
    if exit_code:
        assert (
            f'NomadJobFailedError: Nomad job {job_id} failed: task "main" of allocation '
            f"{alloc['ID'][:8]} exited with code 4"
        ) in output


async def test_follower_of_a_collected_allocation_reports_the_outcome(nomad_conn, ended_child):
    job_id, alloc = ended_child(4)
    client_collected_logs(nomad_conn.control, alloc["ID"])
    lines = []
    async with NomadAsyncHook() as hook:
        follower = JobFollower(hook, job_id, on_line=lines.append)
        outcome = await asyncio.wait_for(follower.run(), HANG_BOUND)
    assert outcome.result is JobResult.FAILED
    assert [t.exit_code for t in outcome.tasks] == [4]
    assert lines == []


async def test_follower_of_a_collected_job_says_it_is_gone(nomad_conn, ended_child):
    job_id, _ = ended_child(0)
    assert nomad_conn.control.gc_job(job_id)["JobRemoved"] is True
    async with NomadAsyncHook() as hook:
        follow = JobFollower(hook, job_id, blocking_wait=2).run()
        with pytest.raises(NomadNotFoundError, match="job"):
            # A follower that waited instead would time out here, which is not NotFound.
            await asyncio.wait_for(follow, HANG_BOUND)


def test_sensor_on_a_collected_job_fails_at_once_saying_so(
    nomad_conn, ended_child, dag_runner, capfd
):
    job_id, _ = ended_child(0)
    assert nomad_conn.control.gc_job(job_id)["JobRemoved"] is True
    with DAG("gc_server", schedule=None, start_date=START, catchup=False) as dag:
        # A sensor that waited for the job would end by this timeout instead of NotFound.
        NomadAllocationSensor(task_id="wait_recon", job_id=job_id, poke_interval=2, timeout=10)
    result = dag_runner(dag)
    output = capfd.readouterr().out

    assert result.task_states == {"wait_recon": "failed"}
    assert "AirflowSensorTimeout" not in output, "waited for a job that no longer exists"
    assert f"NomadNotFoundError: Nomad GET /v1/job/{job_id.replace('/', '%2F')}" in output


def test_deferred_success_is_not_reported_unfinished_after_gc(nomad_conn, ended_child):
    """The trigger saw the batch succeed; the job was collected before the task resumed."""
    job_id, alloc = ended_child(0)

    async def outcome_seen_by_trigger():
        async with NomadAsyncHook() as hook:
            return await JobFollower(hook, job_id, follow_logs=False).run()

    outcome = asyncio.run(outcome_seen_by_trigger())
    assert outcome.succeeded
    event = NomadJobEvent(job_id=job_id, outcome=outcome).to_dict()
    nomad_conn.control.gc_job(job_id)

    operator = NomadDispatchJobOperator(task_id="recon", job_id="recon", deferrable=True)
    pushed = {}

    class TaskInstance:
        def xcom_push(self, key, value):
            pushed[key] = value

    result = operator.execute_complete({"ti": TaskInstance()}, event)
    assert result["status"] == "succeeded"
    assert result["job_id"] == job_id
    assert pushed["nomad_alloc_ids"] == [alloc["ID"]]
