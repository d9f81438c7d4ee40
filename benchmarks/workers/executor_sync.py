"""Worker process: one ``NomadExecutor`` driven as a scheduler drives it, N tries at once.

Run as ``python -m benchmarks.workers.executor_sync SPEC.json``. The spec names the emulator
(``nomad_addr``), the runner job (``runner``), the number of tries (``tasks``) and the length of
the quiet window (``window_s``). The executor runs in this process exactly as in a scheduler:
``queue_workload`` then ``heartbeat()`` once a second (a scheduler's loop), and nothing else
talks to Nomad from here while a phase is counted. Three phases, the emulator's request
counters reset before each and read after it:

1. ``dispatch``: the N workloads queued until every child is seen running by the watch;
2. ``steady``: ``window_s`` seconds of heartbeats while the N children run and nothing changes
   (the figure the executor's design is about: it must not grow with N);
3. ``ends``: every child stopped from outside at once, until the executor reported every end
   (the harness's own ``DELETE`` requests are left out of the count).

The result is printed as an ``@@bench`` ``result`` message.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from benchmarks.emulator import control_for
from benchmarks.procs import emit

HEARTBEAT_S = 1.0
#: Bound against hangs of a phase that waits for Nomad (dispatches, ends).
PHASE_BOUND_S = 900.0
#: Requests the harness itself sends to stop the children (not the executor's).
HARNESS_ROUTES = {"DELETE /v1/job/:job_id"}


def workload(task_id: str) -> Any:
    """An ``ExecuteTask`` as the scheduler builds it (a token of a real token's length)."""
    from airflow.executors.workloads import BundleInfo, ExecuteTask
    from airflow.executors.workloads.task import TaskInstanceDTO

    ti = TaskInstanceDTO(
        id=uuid.uuid4(),
        task_id=task_id,
        dag_id="bench_executor",
        run_id="manual__2026-12-01T00:00:00+00:00",
        try_number=1,
        dag_version_id=uuid.uuid4(),
        map_index=-1,
        pool_slots=1,
        priority_weight=1,
        queue="default",
        executor_config=None,
    )
    return ExecuteTask(
        ti=ti,
        dag_rel_path="bench_executor.py",
        token="eyJ." + "t" * 400 + "." + "s" * 43,
        log_path=f"dag_id=bench_executor/task_id={task_id}/attempt=1.log",
        bundle_info=BundleInfo(name="dags-folder", version=None),
    )


def counted(control: Any) -> dict[str, int]:
    return {k: v for k, v in control.request_counts().items() if k not in HARNESS_ROUTES}


def heartbeat_until(executor: Any, done: Any, what: str) -> int:
    """Heartbeat once a second until ``done()``; the number of heartbeats."""
    deadline = time.monotonic() + PHASE_BOUND_S
    beats = 0
    while True:
        executor.heartbeat()
        beats += 1
        if done():
            return beats
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {PHASE_BOUND_S:g} s")
        time.sleep(HEARTBEAT_S)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    from airflow_provider_nomad.executors.nomad import NomadExecutor

    n, window = spec["tasks"], spec["window_s"]
    control = control_for(spec["nomad_addr"])
    executor = NomadExecutor(parallelism=max(n, 32))
    executor.start()
    phases: dict[str, Any] = {}
    try:
        # 1. dispatch
        control.reset_counts()
        t0 = time.monotonic()
        for i in range(n):
            executor.queue_workload(workload(f"t{i:04d}"), session=None)

        def all_running() -> bool:
            failed = [
                info for state, info in executor.event_buffer.values() if str(state) != "running"
            ]
            if failed:
                # A child that cannot run ends the benchmark at once, with Nomad's reason.
                raise RuntimeError(f"{len(failed)} tries failed, first: {failed[0]}")
            watch = executor._watches.get(spec["runner"])
            if watch is None or len(executor._children) < n:
                return False
            # What the watch last saw of each child: it reads nothing more of running ones.
            return all(
                (watch._seen.get(job_id) or ("",))[0] == "running"
                for _, job_id in executor._children.values()
            )

        beats = heartbeat_until(executor, all_running, f"{n} children to run")
        phases["dispatch"] = phase(counted(control), time.monotonic() - t0, beats, n)

        # 2. steady: the children run, nothing changes.
        control.reset_counts()
        t0 = time.monotonic()
        beats = 0
        while time.monotonic() - t0 < window:
            executor.heartbeat()
            beats += 1
            time.sleep(HEARTBEAT_S)
        phases["steady"] = phase(counted(control), time.monotonic() - t0, beats, n)

        # 3. ends: every child stopped from outside.
        children = [job_id for _, job_id in executor._children.values()]
        control.reset_counts()
        t0 = time.monotonic()
        with httpx.Client(base_url=spec["nomad_addr"], timeout=60) as nomad:
            for job_id in children:
                nomad.delete(f"/v1/job/{quote(job_id, safe='')}").raise_for_status()
        ended: set[Any] = set()

        def all_ended() -> bool:
            for key, (state, _) in executor.get_event_buffer().items():
                if str(state) != "running":
                    ended.add(key)
            return len(ended) >= n

        beats = heartbeat_until(executor, all_ended, f"the executor to report {n} ends")
        phases["ends"] = phase(counted(control), time.monotonic() - t0, beats, n)
    finally:
        executor.end()
    return {"tasks": n, "window_s": window, "phases": phases}


def phase(counts: dict[str, int], seconds: float, heartbeats: int, tasks: int) -> dict[str, Any]:
    total = sum(counts.values())
    return {
        "seconds": seconds,
        "heartbeats": heartbeats,
        "requests": total,
        "requests_per_minute": total * 60.0 / seconds if seconds else None,
        "requests_per_task": total / tasks,
        "by_route": dict(sorted(counts.items())),
    }


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        result = run(spec)
    except Exception as exc:
        traceback.print_exc()
        emit("failed", error=f"{type(exc).__name__}: {exc}")
        return 1
    emit("result", **result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
