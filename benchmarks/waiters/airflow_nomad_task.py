"""airflow-nomad 0.2.1's ``check-job`` step as a real Airflow task, for claim 1b.

airflow-nomad waits with a ``PythonSensor`` in poke mode (airflow-ha's
``HighAvailabilityOperator``, built by airflow-pydantic with ``mode="poke"`` and
``poke_interval`` = ``check_interval``, 5 s): one task process for the whole wait, sleeping
between pokes in it. Each poke runs ``nomad job status -json JOB`` (a process) and pushes its
``(Result, Action)`` as the ``return_value`` XCom, a round trip to Airflow's execution API;
with ``forward_logs`` off (the default) it does nothing else. Here each poke is
:meth:`~benchmarks.waiters.peers.AirflowNomad021Waiter.poke` with the stand-in ``nomad``
(:mod:`benchmarks.waiters.nomad_cli`), and the push is the task's own XCom push, through the
deployment's real API server.

Not the peer's: the dispatch. The peer registers its job in a task before this one; here the
first poke dispatches a child of the benchmark's parameterized parent over HTTP and pushes its
ID as ``nomad_job_id``, which the harness reads. What is measured starts at the batch's end,
long after that.

The task process reads :data:`ADDR_ENV` (the emulator's address), :data:`CLI_ENV` (the
stand-in's path) and :data:`SCALE_ENV` (the poke interval's scale, as in claim 1).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from benchmarks.waiters.peers import AirflowNomad021Waiter

ADDR_ENV = "BENCH_AIRFLOW_NOMAD_ADDR"
CLI_ENV = "BENCH_NOMAD_CLI"
SCALE_ENV = "BENCH_INTERVAL_SCALE"

# The waiter of each try: the sensor pokes in one process, so later pokes find it here.
_waiters: dict[str, AirflowNomad021Waiter] = {}


def poke_interval() -> float:
    """The sensor's ``poke_interval``: airflow-nomad's ``check_interval``, scaled."""
    return AirflowNomad021Waiter.CHECK_INTERVAL * float(os.environ.get(SCALE_ENV, "1"))


def _dispatch(addr: str, parent: str, run_for: str) -> str:
    with httpx.Client(base_url=addr, timeout=60) as client:
        reply = client.post(f"/v1/job/{parent}/dispatch", json={"Meta": {"run_for": run_for}})
        reply.raise_for_status()
        return reply.json()["DispatchedJobID"]


def check_job(ti: Any, dag_run: Any, params: Any) -> bool:
    """One poke: the first dispatches; each reads the job's status through a ``nomad``
    process and pushes the peer's ``return_value``; true once the job is complete."""
    key = f"{dag_run.run_id}/{ti.try_number}"
    waiter = _waiters.get(key)
    if waiter is None:
        addr = os.environ[ADDR_ENV]
        child = _dispatch(addr, params["parent"], dag_run.conf["run_for"])
        ti.xcom_push(key="nomad_job_id", value=child)
        waiter = _waiters[key] = AirflowNomad021Waiter(addr, child, Path(os.environ[CLI_ENV]))
    done = waiter.poke()
    ti.xcom_push(key="return_value", value=["PASS", "STOP" if done else "CONTINUE"])
    return done
