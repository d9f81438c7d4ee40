"""A real Airflow deployment whose only executor is NomadExecutor, against the emulator.

The runner job is the documented raw_exec jobspec (``example_dags/runners``), parsed by the
emulator, with this virtualenv's Python as its command and the deployment's Airflow settings
as its environment: the emulator runs each child as a real local process, which runs the
workload exactly as a Nomad client node would.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from airflow_deployment import Deployment

from airflow_provider_nomad.nomad import snappy

RUNNERS = Path(__file__).resolve().parents[2] / "example_dags" / "runners"
RUNNER = "airflow-task-runner"
#: A runner no node can place (the emulator's node has no docker driver).
DOCKER_RUNNER = "airflow-task-runner-docker"
EXECUTOR = "airflow_provider_nomad.executors.nomad.NomadExecutor"


def runner_job(nomad: httpx.Client, flavour: str, job_id: str, env: dict[str, str]) -> dict:
    """The documented runner jobspec, parsed by Nomad, set up for this machine."""
    hcl = (RUNNERS / f"airflow-task-runner.{flavour}.nomad.hcl").read_text()
    answer = nomad.post("/v1/jobs/parse", json={"JobHCL": hcl, "Canonicalize": True})
    answer.raise_for_status()
    job = answer.json()
    job["ID"] = job["Name"] = job_id
    task = job["TaskGroups"][0]["Tasks"][0]
    if flavour == "raw_exec":
        task["Config"]["command"] = sys.executable
    task["Env"] = {**task.get("Env", {}), **env}
    # The documented 1024 MB: the emulator enforces the limit on the task's whole process
    # tree (Airflow's supervisor and the task process), which can pass 256 MB.
    task["Resources"] = {"CPU": 100, "MemoryMB": 1024}
    return job


def register_runners(nomad_addr: str, dep: Deployment) -> None:
    # The task process runs with the deployment's settings, not the test session's.
    env = {
        key: value
        for key, value in dep.env.items()
        if key.startswith("AIRFLOW") and not key.startswith("AIRFLOW_CONN_")
    }
    env["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    with httpx.Client(base_url=nomad_addr, timeout=30) as nomad:
        for flavour, job_id in (("raw_exec", RUNNER), ("docker", DOCKER_RUNNER)):
            job = runner_job(nomad, flavour, job_id, env)
            nomad.post("/v1/jobs", json={"Job": job}).raise_for_status()


def nomad_deployment(home: Path, database: Path, nomad_addr: str, **env: str) -> Deployment:
    conn = json.dumps({"conn_type": "nomad", "host": nomad_addr})
    dep = Deployment(
        home,
        database,
        env={
            "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
            "AIRFLOW_CONN_NOMAD_DEFAULT": conn,
            **env,
        },
    )
    register_runners(nomad_addr, dep)
    return dep


def children(nomad_addr: str, runner: str = RUNNER) -> list[dict[str, Any]]:
    """Every child of ``runner``, full jobs (meta, payload), oldest first."""
    with httpx.Client(base_url=nomad_addr, timeout=30) as nomad:
        stubs = nomad.get("/v1/jobs", params={"prefix": f"{runner}/dispatch-"}).json()
        jobs = [nomad.get(f"/v1/job/{quote(s['ID'], safe='')}").json() for s in stubs]
    return sorted(jobs, key=lambda j: j["CreateIndex"])


def child_job(nomad_addr: str, job_id: str) -> dict[str, Any]:
    with httpx.Client(base_url=nomad_addr, timeout=30) as nomad:
        return nomad.get(f"/v1/job/{quote(job_id, safe='')}").json()


def payload_of(job: dict[str, Any]) -> bytes:
    """A dispatched child's payload (Nomad serves it snappy-compressed)."""
    return snappy.decompress(base64.b64decode(job["Payload"])) if job.get("Payload") else b""


_EVENT = re.compile(
    r"Received executor event with state (\w+) for task instance TaskInstanceKey\("
    r"dag_id='([^']*)', task_id='([^']*)', run_id='([^']*)', try_number=(\d+)"
)


def executor_events(dep: Deployment) -> list[tuple[str, str, int, str]]:
    """``(dag_id, task_id, try, state)`` of every executor event the schedulers received."""
    events = []
    for path in sorted(dep.home.glob("scheduler.*.log")):
        for state, dag_id, task_id, _run, try_number in _EVENT.findall(path.read_text()):
            events.append((dag_id, task_id, int(try_number), state))
    return events


def wait_for_event(dep: Deployment, dag_id: str, task_id: str, try_number: int) -> str:
    """The final state NomadExecutor reported for a try (once its Nomad child ended)."""

    def final() -> str | None:
        for d, t, n, state in executor_events(dep):
            if (d, t, n) == (dag_id, task_id, try_number) and state != "running":
                return state
        return None

    return dep.wait_for(final, f"the executor's end event of {task_id} try {try_number}")


def dag_file(text: str) -> str:
    return textwrap.dedent(text)
