"""A ``@task.nomad`` task whose worker is SIGKILLed mid-run, in a real deployment.

api-server, scheduler (LocalExecutor), dag-processor and triggerer run as separate processes
(:mod:`airflow_deployment`) against the emulator. While the function runs on Nomad, the
LocalExecutor worker running the task (its supervisor and the task process) is SIGKILLed: no
``on_kill``, no cleanup. The scheduler fails the try once its heartbeat is overdue; the retry
adopts the job the dead try started: the function runs once and its value reaches the
downstream task.
"""

from __future__ import annotations

import json
import signal
import textwrap
from pathlib import Path

import httpx
import psutil
import pytest
from airflow_deployment import HANG_BOUND, Deployment, DeploymentError
from gated_task_dag import DAG_ID

HERE = Path(__file__).resolve().parent
TASK_ID = "gated_rollup"

# "airflow" and "dag" in the file: the dag-processor's safe mode skips files without both.
DAG_FILE = """
# An Airflow DAG: gated_task_dag's, retried once.
import sys

sys.path.insert(0, {here!r})
from gated_task_dag import build_dag

dag = build_dag({release!r}, {runs!r}, retries=1)
"""


@pytest.fixture
def files(tmp_path) -> tuple[Path, Path]:
    return tmp_path / "release", tmp_path / "runs"


@pytest.fixture
def deployment(pristine_airflow_db, tmp_path, nomad_emulator, files):
    nomad_emulator.control.reset()
    release, runs = files
    conn = json.dumps({"conn_type": "nomad", "host": nomad_emulator.nomad_addr})
    dep = Deployment(
        tmp_path / "home",
        pristine_airflow_db,
        env={
            "AIRFLOW_CONN_NOMAD_DEFAULT": conn,
            # The scheduler fails a try whose task process stopped heartbeating this long ago.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "10",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        },
    )
    (dep.dags / "task_nomad_adopt.py").write_text(
        textwrap.dedent(DAG_FILE.format(here=str(HERE), release=str(release), runs=str(runs)))
    )
    with dep:
        yield dep


def _task_processes(ti_id: str) -> list[psutil.Process]:
    """The task process of the try (``airflow worker -- <ti id>``) and its supervisor, the
    LocalExecutor worker that forked it."""
    for proc in psutil.process_iter(["cmdline"]):
        if f"airflow worker -- {ti_id}" in " ".join(proc.info["cmdline"] or ()):
            return [proc, proc.parent()]
    return []


def _log(dep: Deployment, run_id: str, try_number: int) -> str:
    """The try's log so far ("" while the api-server has none to show yet)."""
    try:
        return dep.task_log(DAG_ID, run_id, TASK_ID, try_number)
    except DeploymentError:
        return ""


def _jobs(nomad_emulator) -> list[dict]:
    prefix = f"airflow-{DAG_ID}-{TASK_ID}-"
    with httpx.Client(base_url=nomad_emulator.nomad_addr, timeout=30) as nomad:
        return nomad.get("/v1/jobs", params={"prefix": prefix}).json()


@pytest.mark.slow
@pytest.mark.timeout(2 * HANG_BOUND)
def test_a_killed_worker_s_retry_adopts_the_running_function(deployment, nomad_emulator, files):
    dep, (release, runs) = deployment, files
    run_id = dep.trigger(DAG_ID)
    ti = dep.wait_for_state(DAG_ID, run_id, TASK_ID, {"running"})
    dep.wait_for(
        lambda: runs.is_file() and "rollup started" in _log(dep, run_id, 1),
        "the function to start on Nomad and its first line to reach the task log",
    )
    victims = dep.wait_for(lambda: _task_processes(ti["id"]), "the try's task process")
    for proc in victims:
        proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(victims, timeout=HANG_BOUND)
    [job] = _jobs(nomad_emulator)
    assert job["Status"] == "running"

    # The retry starts once the scheduler saw the dead try's heartbeat overdue.
    dep.wait_for(
        lambda: dep.task_instance(DAG_ID, run_id, TASK_ID)["try_number"] >= 2,
        "the scheduler to retry the task whose worker died",
    )
    dep.wait_for(
        lambda: f"Adopting {job['ID']}" in _log(dep, run_id, 2),
        "the retry to adopt the running job",
    )
    release.touch()
    book = dep.wait_for_state(DAG_ID, run_id, "book", {"success", "failed", "upstream_failed"})

    rollup = dep.task_instance(DAG_ID, run_id, TASK_ID)
    assert (rollup["state"], rollup["try_number"]) == ("success", 2)
    assert book["state"] == "success"
    # One job for both tries, and the function started once: the retry ran nothing again.
    assert [j["ID"] for j in _jobs(nomad_emulator)] == [job["ID"]]
    assert len(runs.read_text().splitlines()) == 1
    assert "rollup finished" in _log(dep, run_id, 2)
    assert dep.xcom(DAG_ID, run_id, "book", "return_value") == "rates 10448.0"
