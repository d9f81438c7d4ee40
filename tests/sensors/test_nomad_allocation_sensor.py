"""NomadAllocationSensor in poke, reschedule and deferrable mode, against the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pendulum
import pytest
from airflow.sdk import DAG
from nomad_testlib import HANG_BOUND, act_when, act_when_logged, batch_job

from airflow_provider_nomad.exceptions import NomadJobFailedError, NomadPlacementError
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
        NomadAllocationSensor(task_id="wait", job_id="snapshot", timeout=HANG_BOUND, **kwargs)
    return dag


def release_when_waiting(capfd, release, needle: str) -> Callable[[], bool]:
    """Release the batch once the sensor has started waiting (its needle is in the log)."""
    return act_when_logged(capfd, needle, release.touch)


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_waits_for_the_allocation_and_fetches_logs(
    nomad_conn, nomad_client, dag_runner, capfd, tmp_path, mode
):
    release = tmp_path / "release"
    nomad_client.jobs.register_job({"Job": gated_job("snapshot", release)})
    nomad_conn.control.reset_counts()
    released = release_when_waiting(capfd, release, "Allocations of snapshot have not ended yet")
    result = dag_runner(sensor_dag(f"sensor_{mode}", mode=mode, poke_interval=1, fetch_logs=True))
    assert released(), "the sensor never logged that it was waiting"
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

    # The follower's first read (index 0) answers at once; its second one blocks.
    released = act_when(lambda: control.request_counts().get(route, 0) >= 2, release.touch)
    # A poke interval of a minute: were a poke a plain read, the sensor would log that the
    # allocations have not ended and sleep a whole minute. The blocking query returns within
    # the first poke, as soon as the allocation ends.
    result = dag_runner(sensor_dag("sensor_blocking", mode="poke", poke_interval=60))
    assert released()
    output = capfd.readouterr().out
    assert result.state == "success", output[-3000:]
    assert "have not ended yet" not in output
    assert control.request_counts()[route] <= 4


#: More stderr lines than a failure report keeps (20), so the test sees which ones it keeps.
STDERR_LINES = 30


def failing_job(job_id: str) -> dict:
    script = f"""
        import sys
        print("snapshot started", flush=True)
        for i in range({STDERR_LINES}):
            print(f"price feed error {{i:02d}}", file=sys.stderr)
        sys.exit(3)
    """
    return batch_job(job_id, script, parameterized=False)


@pytest.mark.parametrize(
    ("mode", "fetch_logs"),
    [
        ("poke", False),
        ("reschedule", False),
        ("deferrable", False),
        # The logs copied into the task log (in the triggerer when deferred) give the tail.
        ("poke", True),
        ("deferrable", True),
    ],
)
def test_a_failed_batch_raises_the_operators_typed_report(
    nomad_conn, nomad_client, dag_runner, capfd, mode, fetch_logs
):
    nomad_client.jobs.register_job({"Job": failing_job("snapshot")})
    raised: list[BaseException] = []
    kwargs = {"deferrable": True} if mode == "deferrable" else {"mode": mode}
    result = dag_runner(
        sensor_dag(
            f"sensor_fails_{mode}_{fetch_logs}",
            poke_interval=1,
            fetch_logs=fetch_logs,
            on_failure_callback=lambda context: raised.append(context["exception"]),
            **kwargs,
        )
    )
    output = capfd.readouterr().out
    assert result.state == "failed", output[-3000:]
    (error,) = raised
    assert type(error) is NomadJobFailedError, output[-3000:]
    assert not isinstance(error, NomadPlacementError)
    (alloc,) = nomad_client.job.get_allocations("snapshot")
    assert (error.job_id, error.alloc_id, error.task) == ("snapshot", alloc["ID"], "main")
    assert (error.exit_code, error.signal, error.oom) == (3, None, False)
    label = f"[main {alloc['ID'][:8]} stderr]"
    expected_tail = [
        f"{label} price feed error {i:02d}" for i in range(STDERR_LINES - 20, STDERR_LINES)
    ]
    assert error.stderr_tail == "\n".join(expected_tail)
    assert error.ui_url == f"{nomad_conn.nomad_addr}/ui/jobs/snapshot@default"
    message = str(error)
    assert "exited with code 3" in message
    assert "Last lines of stderr:" in message and expected_tail[-1] in message


def test_deferrable_sensor(nomad_conn, nomad_client, dag_runner, capfd, tmp_path):
    release = tmp_path / "release"
    nomad_client.jobs.register_job({"Job": gated_job("snapshot", release)})
    released = release_when_waiting(capfd, release, "snapshot started")
    result = dag_runner(sensor_dag("sensor_deferred", deferrable=True, fetch_logs=True))
    assert released(), "the batch never logged that it started"
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


def test_a_failure_whose_stderr_cannot_be_read_is_still_reported(
    nomad_emulator_acl, dag_runner, capfd, monkeypatch
):
    """A token without ``read-logs``: the report says so in the log and keeps the exit code."""
    admin = {"X-Nomad-Token": nomad_emulator_acl.token}
    with httpx.Client(base_url=nomad_emulator_acl.nomad_addr, headers=admin) as http:
        http.post("/v1/jobs", json={"Job": failing_job("snapshot")}).raise_for_status()
    no_logs = nomad_emulator_acl.control.create_token(capabilities=("read-job",))
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOMAD_DEFAULT",
        json.dumps(
            {"conn_type": "nomad", "host": nomad_emulator_acl.nomad_addr, "password": no_logs}
        ),
    )
    raised: list[BaseException] = []
    result = dag_runner(
        sensor_dag(
            "sensor_fails_without_read_logs",
            poke_interval=1,
            on_failure_callback=lambda context: raised.append(context["exception"]),
        )
    )
    output = capfd.readouterr().out
    assert result.state == "failed", output[-3000:]
    (error,) = raised
    assert type(error) is NomadJobFailedError
    assert (error.exit_code, error.stderr_tail) == (3, None)
    assert "cannot read the last lines of stderr" in output
    assert "Last lines of stderr:" not in str(error)
