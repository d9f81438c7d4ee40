"""NomadAllocationSensor in poke, reschedule and deferrable mode, against the emulator."""

from __future__ import annotations

import threading

import pendulum
import pytest
from airflow.sdk import DAG
from nomad_testlib import batch_job

from airflow_provider_nomad.sensors.nomad import NomadAllocationSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")


def gated_job(job_id: str, release, exit_code: int = 0) -> dict:
    script = f"""
        import os, sys, time
        print("snapshot started", flush=True)
        while not os.path.exists({str(release)!r}):
            time.sleep(0.02)
        print("snapshot done")
        print("prices: 42", file=sys.stderr)
        sys.exit({exit_code})
    """
    return batch_job(job_id, script, parameterized=False)


def sensor_dag(dag_id: str, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        NomadAllocationSensor(task_id="wait", job_id="snapshot", timeout=120, **kwargs)
    return dag


def release_when_waiting(capfd, release, needle: str) -> threading.Thread:
    """Release the batch once the sensor has started waiting (its needle is in the log)."""

    def watch() -> None:
        seen = ""
        while needle not in seen:
            seen += capfd.readouterr().out
            threading.Event().wait(0.05)
        print(seen)
        release.touch()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_waits_for_the_allocation_and_fetches_logs(
    nomad_conn, nomad_client, dag_runner, capfd, tmp_path, mode
):
    release = tmp_path / "release"
    nomad_client.jobs.register_job({"Job": gated_job("snapshot", release)})
    nomad_conn.control.reset_counts()
    watcher = release_when_waiting(capfd, release, "Allocations of snapshot have not ended yet")
    result = dag_runner(sensor_dag(f"sensor_{mode}", mode=mode, poke_interval=1, fetch_logs=True))
    watcher.join(timeout=30)
    output = capfd.readouterr().out
    assert result.state == "success", output[-3000:]
    assert "snapshot done" in output and "prices: 42" in output
    summary_requests = nomad_conn.control.request_counts()
    assert summary_requests.get("GET /v1/job/:job_id/allocations", 0) >= 2


def test_poke_is_a_blocking_query_that_returns_when_the_job_ends(
    nomad_conn, nomad_client, dag_runner, capfd, tmp_path
):
    release = tmp_path / "release"
    nomad_client.jobs.register_job({"Job": gated_job("snapshot", release)})
    control = nomad_conn.control
    control.reset_counts()
    route = "GET /v1/job/:job_id/allocations"

    def release_once_the_sensor_blocks() -> None:
        # The follower's first read (index 0) answers at once; its second one blocks.
        while control.request_counts().get(route, 0) < 2:
            threading.Event().wait(0.05)
        release.touch()

    watcher = threading.Thread(target=release_once_the_sensor_blocks, daemon=True)
    watcher.start()
    # A poke interval of a minute: were a poke a plain read, the sensor would log that the
    # allocations have not ended and sleep a whole minute. The blocking query returns within
    # the first poke, as soon as the allocation ends.
    result = dag_runner(sensor_dag("sensor_blocking", mode="poke", poke_interval=60))
    watcher.join(timeout=30)
    output = capfd.readouterr().out
    assert result.state == "success", output[-3000:]
    assert "have not ended yet" not in output
    assert control.request_counts()[route] <= 4


def test_sensor_reports_a_failed_batch(nomad_conn, nomad_client, dag_runner, capfd, tmp_path):
    release = tmp_path / "release"
    release.touch()
    nomad_client.jobs.register_job({"Job": gated_job("snapshot", release, exit_code=3)})
    result = dag_runner(sensor_dag("sensor_fails", poke_interval=1))
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "NomadJobFailedError" in output and "exited with code 3" in output


def test_deferrable_sensor(nomad_conn, nomad_client, dag_runner, capfd, tmp_path):
    release = tmp_path / "release"
    nomad_client.jobs.register_job({"Job": gated_job("snapshot", release)})
    watcher = release_when_waiting(capfd, release, "snapshot started")
    result = dag_runner(sensor_dag("sensor_deferred", deferrable=True, fetch_logs=True))
    watcher.join(timeout=30)
    output = capfd.readouterr().out
    assert result.state == "success", output[-3000:]
    assert "snapshot done" in output


def test_group_filter_only_waits_for_that_group(nomad_conn, nomad_client, dag_runner, capfd):
    job = batch_job("snapshot", "print('quick')", parameterized=False)
    slow = batch_job("ignored", "import time; time.sleep(600)", parameterized=False)
    slow_group = slow["TaskGroups"][0] | {"Name": "slow"}
    job["TaskGroups"].append(slow_group)
    nomad_client.jobs.register_job({"Job": job})
    result = dag_runner(sensor_dag("sensor_group", group="batch", poke_interval=1))
    assert result.state == "success", capfd.readouterr().out[-3000:]
