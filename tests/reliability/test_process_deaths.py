"""Airflow processes dying under a deferred dispatch, in a real deployment.

api-server, scheduler (LocalExecutor), dag-processor and triggerer run as separate processes
(:mod:`airflow_deployment`) against the emulator; a batch prints numbered lines in two phases,
the second held back until the test releases it, so each kill lands at a known point of the log.

- A triggerer SIGKILLed mid-batch and replaced: the task log holds every line exactly once
  (the trigger resumes from its checkpoint, not from the offsets of the deferral).
- A deferred task cleared while its batch runs, the old trigger's stop held back in the network
  so the new try lists the children first (the unlucky order): the new try never adopts the
  child being stopped; it stops it, waits for its end and runs a new one.
"""

from __future__ import annotations

import re
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest
from airflow_deployment import HANG_BOUND, Deployment, deployment_for, register_on_fresh_emulator
from nomad_testlib import batch_job

DAG_ID = "settle_deferred"
TASK_ID = "settle"
PARENT = "settle-two-phase"
PHASE_LINES = 30


def two_phase_batch(release: Path) -> str:
    return f"""
        import os, time
        for i in range({PHASE_LINES}):
            print(f"settled line {{i:03d}}", flush=True)
        while not os.path.exists({str(release)!r}):
            time.sleep(0.05)
        for i in range({PHASE_LINES}, {2 * PHASE_LINES}):
            print(f"settled line {{i:03d}}", flush=True)
    """


DAG_FILE = f"""
import pendulum
from airflow.sdk import DAG
from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator

with DAG({DAG_ID!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    NomadDispatchJobOperator(task_id={TASK_ID!r}, job_id={PARENT!r}, deferrable=True, retries=0)
"""


@pytest.fixture
def release(tmp_path) -> Path:
    return tmp_path / "release-phase-2"


@pytest.fixture
def cluster(nomad_emulator, release):
    register_on_fresh_emulator(nomad_emulator, batch_job(PARENT, two_phase_batch(release)))
    return nomad_emulator


@pytest.fixture
def deployment(pristine_airflow_db, tmp_path, cluster):
    # A replacement triggerer takes over a dead one's triggers once its heartbeat is this old.
    env = {"AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5"}
    files = {"settle_deferred.py": DAG_FILE}
    with deployment_for(pristine_airflow_db, tmp_path / "home", cluster, files, env) as dep:
        yield dep


def _children(cluster) -> list[dict]:
    with httpx.Client(base_url=cluster.nomad_addr, timeout=30) as nomad:
        return nomad.get("/v1/jobs", params={"prefix": f"{PARENT}/dispatch-"}).json()


def _line_counts(log: str) -> Counter:
    return Counter(re.findall(r"settled line (\d{3})", log))


def _phase_one_saved(dep: Deployment, run_id: str) -> bool:
    """The trigger's checkpoint covers every line of the first phase."""
    offsets = dep.xcom(DAG_ID, run_id, TASK_ID, "nomad_log_offsets") or {}
    phase_one = sum(len(f"settled line {i:03d}\n") for i in range(PHASE_LINES))
    return any(k.endswith("/stdout") and v >= phase_one for k, v in offsets.items())


@pytest.mark.slow
@pytest.mark.timeout(2 * HANG_BOUND)
def test_triggerer_sigkill_writes_no_line_twice(deployment, cluster, release):
    dep = deployment
    run_id = dep.trigger(DAG_ID)
    dep.wait_for_state(DAG_ID, run_id, TASK_ID, {"deferred"})
    dep.wait_for(lambda: _phase_one_saved(dep, run_id), "the first phase to be checkpointed")

    dep.kill("triggerer", signal.SIGKILL)
    release.touch()
    dep.start("triggerer")

    ti = dep.wait_for_state(DAG_ID, run_id, TASK_ID, {"success", "failed"})
    log = dep.task_log(DAG_ID, run_id, TASK_ID, 1)
    assert ti["state"] == "success", log[-3000:]
    counts = _line_counts(log)
    missing = [f"{i:03d}" for i in range(2 * PHASE_LINES) if counts[f"{i:03d}"] == 0]
    repeated = {line: n for line, n in counts.items() if n > 1}
    assert missing == [], f"lines lost: {missing}"
    assert repeated == {}, f"lines written twice after the triggerer restart: {repeated}"
    assert "where an earlier triggerer left off" in log
    assert len(_children(cluster)) == 1
    # The deferral saved an empty checkpoint: no trigger asked for a missing XCom, which
    # Airflow's client logs as an ERROR in the triggerer's own log.
    for start in (1, 2):
        assert "XCom not found" not in dep.log_path("triggerer", start).read_text()


@pytest.mark.slow
@pytest.mark.timeout(2 * HANG_BOUND)
def test_clear_while_deferred_never_adopts_the_child_being_stopped(deployment, cluster, release):
    dep = deployment
    run_id = dep.trigger(DAG_ID)
    dep.wait_for_state(DAG_ID, run_id, TASK_ID, {"deferred"})
    [first] = dep.wait_for(lambda: _children(cluster), "the first child")
    dep.wait_for(lambda: _phase_one_saved(dep, run_id), "the first child to run")

    # The unlucky order: the old trigger's stop (its on_kill) is held in the network long
    # enough for the new try to list the children while the first one still runs.
    cluster.control.inject_fault("DELETE /v1/job/:job_id", status=None, delay=HANG_BOUND, count=1)
    dep.clear(DAG_ID, run_id, TASK_ID)

    def second_try_waiting() -> bool:
        ti = dep.task_instance(DAG_ID, run_id, TASK_ID)
        return ti["try_number"] == 2 and ti["state"] == "deferred"

    dep.wait_for(second_try_waiting, "the second try to wait for its child")
    assert len(_children(cluster)) == 2, "the second try adopted the child being stopped"
    release.touch()

    ti = dep.wait_for_state(DAG_ID, run_id, TASK_ID, {"success", "failed"})
    log = dep.task_log(DAG_ID, run_id, TASK_ID, ti["try_number"])
    assert ti["state"] == "success", log[-3000:]
    assert ti["try_number"] == 2
    # The new try saw the first child still running (the unlucky order happened) and did not
    # adopt it.
    assert f"was cleared while {first['ID']}" in log
    assert "Adopting" not in log
    children = {c["ID"]: c for c in _children(cluster)}
    assert children[first["ID"]]["Stop"] is True
    [second] = [c for c in children.values() if c["ID"] != first["ID"]]
    assert second["Status"] == "dead" and not second["Stop"]
    # The second child started only once the first had ended: never two copies at once.
    with httpx.Client(base_url=cluster.nomad_addr, timeout=30) as nomad:
        allocs = {
            c: nomad.get(f"/v1/job/{c.replace('/', '%2F')}/allocations").json() for c in children
        }
    first_end = max(t["FinishedAt"] for a in allocs[first["ID"]] for t in a["TaskStates"].values())
    second_start = min(
        t["StartedAt"] for a in allocs[second["ID"]] for t in a["TaskStates"].values()
    )
    assert first_end <= second_start
