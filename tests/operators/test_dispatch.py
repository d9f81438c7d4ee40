"""NomadDispatchJobOperator end to end: real Airflow (dag.test), real HTTP, the emulator."""

from __future__ import annotations

import re
import threading

import pendulum
import pytest
from airflow.sdk import DAG
from nomad_testlib import HANG_BOUND, batch_job, children_of

from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")

LOGGING_BATCH = """
    import json, os, sys
    payload = json.load(open(os.path.join(os.environ["NOMAD_TASK_DIR"], "payload.json")))
    print("business date", os.environ["NOMAD_META_business_date"])
    print("accounts", payload["accounts"])
    for i in range(50):
        print(f"out {i}")
        print(f"err {i}", file=sys.stderr)
    with open(os.path.join(os.environ["NOMAD_ALLOC_DIR"], "result.json"), "w") as f:
        json.dump({"settled": 50}, f)
"""


def dispatch_dag(dag_id: str, **operator_kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        NomadDispatchJobOperator(task_id="settle", **operator_kwargs)
    return dag


def xcom_now(dag_id: str, key: str):
    """An XCom of the (only) run of ``dag_id``, read from the metadata DB right now."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(dag_id=dag_id, key=key).one_or_none()
        return None if row is None else XComModel.deserialize_value(row)


def labelled(output: str, stream: str) -> list[str]:
    """The batch lines of one stream, in the order the task log shows them."""
    return re.findall(rf"\[main [0-9a-f]{{8}} {stream}\] (.*?)\s+\[", output)


def test_dispatch_follows_the_batch_and_streams_its_logs(
    nomad_conn, nomad_client, dag_runner, capfd
):
    nomad_client.jobs.register_job(
        {"Job": batch_job("settlement", LOGGING_BATCH, meta_required=("business_date",))}
    )
    dag = dispatch_dag(
        "dispatch_logs",
        job_id="settlement",
        meta={"business_date": "{{ ds }}"},
        payload={"accounts": "all"},
        result_file="alloc/result.json",
    )
    result = dag_runner(dag)
    output = capfd.readouterr().out

    assert result.state == "success", output[-3000:]
    stdout = labelled(output, "stdout")
    assert stdout[:2] == ["business date 2026-11-24", "accounts all"]
    assert stdout[2:] == [f"out {i}" for i in range(50)]
    assert labelled(output, "stderr") == [f"err {i}" for i in range(50)]

    [child] = children_of(nomad_client, "settlement")
    summary = result.xcom("settle")
    assert summary["job_id"] == child["ID"]
    assert summary["status"] == "succeeded"
    assert summary["result"] == {"settled": 50}
    assert list(summary["exit_codes"].values()) == [0]
    assert result.xcom("settle", "nomad_job_id") == child["ID"]
    assert result.xcom("settle", "nomad_job_url").endswith(
        "/ui/jobs/settlement%2F" + child["ID"].split("/", 1)[1] + "@default"
    )


def test_log_lines_reach_the_task_log_while_the_batch_runs(
    nomad_conn, nomad_client, dag_runner, capfd, tmp_path
):
    release = tmp_path / "release"
    script = f"""
        import os, time
        print("waiting for release", flush=True)
        while not os.path.exists({str(release)!r}):
            time.sleep(0.02)
        print("released")
    """
    nomad_client.jobs.register_job({"Job": batch_job("gated", script)})
    seen = threading.Event()
    run_over = threading.Event()
    output: list[str] = []
    link_while_running: list[str | None] = []

    def release_when_seen() -> None:
        # The batch only ends once its first line is in the task log: if the operator
        # printed logs only after the job ended, this would never fire and the run would hang
        # until the test's timeout.
        while not seen.is_set() and not run_over.is_set():
            chunk = capfd.readouterr().out
            output.append(chunk)
            if "waiting for release" in "".join(output):
                link_while_running.append(xcom_now("dispatch_live", "_link_NomadJobLink"))
                seen.set()
                release.touch()
            else:
                threading.Event().wait(0.05)

    watcher = threading.Thread(target=release_when_seen, daemon=True)
    watcher.start()
    result = dag_runner(dispatch_dag("dispatch_live", job_id="gated"))
    run_over.set()
    watcher.join(HANG_BOUND)
    output.append(capfd.readouterr().out)
    assert seen.is_set()
    assert result.state == "success"
    assert labelled("".join(output), "stdout") == ["waiting for release", "released"]
    # The UI's "Nomad job" link already worked while the batch was running.
    [link] = link_while_running
    assert link is not None and "/ui/jobs/gated%2Fdispatch-af-" in link


def test_failure_reports_exit_code_and_stderr_tail(nomad_conn, nomad_client, dag_runner, capfd):
    script = """
        import sys
        print("settling")
        print("ledger mismatch: 42.00 JPY", file=sys.stderr)
        sys.exit(3)
    """
    nomad_client.jobs.register_job({"Job": batch_job("failing", script)})
    result = dag_runner(dispatch_dag("dispatch_fail", job_id="failing"))
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "NomadJobFailedError" in output
    assert 'task "main" of allocation' in output and "exited with code 3" in output
    assert "Last lines of stderr" in output and "ledger mismatch: 42.00 JPY" in output


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"meta": {"business_date": 20261124}}, "must be strings"),
        ({"meta": {}}, "business_date"),
        ({"meta": {"business_date": "x", "desk": "fx"}}, "desk"),
        ({"meta": {"business_date": "x"}, "payload": "x" * 17000}, "16384"),
    ],
)
def test_bad_input_fails_clearly_and_dispatches_nothing(
    nomad_conn, nomad_client, dag_runner, capfd, kwargs, message
):
    nomad_client.jobs.register_job(
        {"Job": batch_job("strict", "print(1)", meta_required=("business_date",))}
    )
    result = dag_runner(dispatch_dag("dispatch_bad_input", job_id="strict", **kwargs))
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "NomadInvalidInputError" in output and message in output
    assert children_of(nomad_client, "strict") == []


def test_unknown_parent_job_is_a_clear_error(nomad_conn, dag_runner, capfd):
    result = dag_runner(dispatch_dag("dispatch_unknown", job_id="nope"))
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "Nomad has no job 'nope' in namespace 'default'" in output


def test_placement_failure_fails_fast_naming_the_dimension(
    nomad_conn, nomad_client, dag_runner, capfd
):
    nomad_client.jobs.register_job({"Job": batch_job("huge", "print(1)", memory_mb=10**6)})
    result = dag_runner(dispatch_dag("dispatch_huge", job_id="huge"))
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "NomadPlacementError" in output
    assert "memory exhausted on 1 node(s)" in output


def test_missing_driver_is_a_placement_failure(nomad_conn, nomad_client, dag_runner, capfd):
    job = batch_job("dockerized", "", driver="docker", config={"image": "python:3.11"})
    nomad_client.jobs.register_job({"Job": job})
    result = dag_runner(dispatch_dag("dispatch_docker", job_id="dockerized"))
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert 'constraint "missing drivers" filtered 1 node(s)' in output


def test_reschedule_is_followed_to_the_final_allocation(
    nomad_conn, nomad_client, dag_runner, capfd, tmp_path
):
    marker = tmp_path / "first-attempt-done"
    script = f"""
        import os, sys
        if not os.path.exists({str(marker)!r}):
            open({str(marker)!r}, "w").close()
            print("first attempt fails")
            sys.exit(1)
        print("second attempt succeeds")
    """
    nomad_client.jobs.register_job(
        {"Job": batch_job("flaky", script, restart_attempts=0, reschedule_attempts=1)}
    )
    result = dag_runner(dispatch_dag("dispatch_flaky", job_id="flaky"))
    output = capfd.readouterr().out
    assert result.state == "success", output[-3000:]
    assert labelled(output, "stdout") == ["first attempt fails", "second attempt succeeds"]
    summary = result.xcom("settle")
    assert len(summary["alloc_ids"]) == 2 and summary["final_alloc_ids"] == summary["alloc_ids"][1:]


def test_signal_is_reported(nomad_conn, nomad_client, dag_runner, capfd):
    script = """
        import os, signal
        print("about to die")
        os.kill(os.getpid(), signal.SIGKILL)
    """
    nomad_client.jobs.register_job({"Job": batch_job("killed", script)})
    result = dag_runner(dispatch_dag("dispatch_signal", job_id="killed"))
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "(signal 9)" in output


def test_oom_is_reported(nomad_conn, nomad_client, dag_runner, capfd):
    script = """
        import time
        print("loading the whole ledger", flush=True)
        ballast = bytearray(256 * 1024 * 1024)
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1
        time.sleep(60)
    """
    nomad_client.jobs.register_job({"Job": batch_job("greedy", script, memory_mb=64)})
    result = dag_runner(dispatch_dag("dispatch_oom", job_id="greedy"))
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "was killed for running out of memory (OOM)" in output
