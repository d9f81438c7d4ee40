"""Worker process: wait for batches with one kind of waiter, one lane per emulator.

Run as ``python -m benchmarks.workers.wait_lane SPEC.json``. A lane is one emulator and the
batches waited on against it, either one after another (the emulator's request counters are
reset before each wait and read after it, so they count that wait alone) or all at once (each
peer waiter counts its own requests). The result goes to the spec's ``result_path``.

Every waiter kind runs in its own process, so the operator path, the trigger path and the
peers never share an interpreter, just as they would not in Airflow.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import httpx

from benchmarks.emulator import control_for
from benchmarks.jobs import (
    NomadApi,
    continuous_meta,
    final_allocation,
    finish_times,
    mock_batch,
)
from benchmarks.procs import emit, receive
from benchmarks.waiters.kinds import DEFERRABLE, SYNC
from benchmarks.waiters.nomad_cli import install as install_nomad_cli
from benchmarks.waiters.peers import PEERS, wait_peer

PARENT = "bench-batch"
#: Longest a single wait may take beyond its batch's own run time.
WAIT_MARGIN = 120.0


class Lane:
    """One emulator and the batches waited on against it.

    :param spec: ``name``, ``nomad_addr``, ``conn_id``, ``runs`` (batch seconds),
        ``mode`` (``sequential`` | ``concurrent``), ``print_every`` (the batches print a line
        every that many seconds for their whole run).
    :param kind: the waiter.
    :param interval_scale: the peers' interval scale.
    :param cli: the ``nomad`` executable the airflow-nomad peer starts.
    """

    def __init__(
        self, spec: dict[str, Any], kind: str, interval_scale: float, cli: Path | None = None
    ) -> None:
        self.name = spec["name"]
        self.nomad_addr = spec["nomad_addr"]
        self.conn_id = spec["conn_id"]
        self.runs: list[float] = list(spec["runs"])
        self.mode = spec["mode"]
        self.budget_s: float | None = spec.get("budget_s")
        self.warmup: bool = bool(spec.get("warmup"))
        self.print_every: float = spec["print_every"]
        self.kind = kind
        self.interval_scale = interval_scale
        self.cli = cli
        self.batch_lines: dict[str, int] = {}
        self.api = NomadApi(httpx.Client(base_url=self.nomad_addr, timeout=WAIT_MARGIN + 320))
        self.control = control_for(self.nomad_addr)
        self.records: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def set_up(self) -> None:
        self.api.register(mock_batch(PARENT, parameterized=True, print_every=self.print_every))

    def dispatch(self, run_for: float) -> tuple[str, str, int]:
        meta, lines = continuous_meta(run_for, self.print_every)
        child, eval_id, created_index = self.api.dispatch(PARENT, meta)
        self.batch_lines[child] = lines
        return child, eval_id, created_index

    def record(
        self,
        run_for: float,
        child: str,
        started: float,
        returned: float,
        outcome: dict[str, Any],
        counts: dict[str, int] | None,
    ) -> None:
        allocs = self.api.wait_until_finished(child, timeout=WAIT_MARGIN)
        alloc = self.api.allocation(final_allocation(allocs)["ID"])
        times = finish_times(alloc)
        finished = times["task_finished"]
        modified = times["alloc_modified"]
        record: dict[str, Any] = {
            "lane": self.name,
            "kind": self.kind,
            "run_for": run_for,
            "job_id": child,
            "waiter_started": started,
            "waiter_returned": returned,
            "task_finished": finished / 1e9 if finished else None,
            "alloc_modified": modified / 1e9 if modified else None,
            "latency_s": returned - finished / 1e9 if finished else None,
            "latency_from_alloc_modify_s": returned - modified / 1e9 if modified else None,
            "result": outcome.get("result"),
            "alloc_status": alloc.get("ClientStatus"),
            "batch_lines": self.batch_lines.get(child),
            "log_lines": outcome.get("log_lines"),
            "polls": outcome.get("polls"),
            "cli_processes": outcome.get("cli_processes"),
        }
        if counts is not None:
            record["requests"] = sum(counts.values())
            record["requests_by_route"] = counts
        if "client_requests" in outcome:
            record["client_requests"] = outcome["client_requests"]
            record["client_requests_by_route"] = outcome["client_requests_by_route"]
        if outcome.get("result") != "succeeded":
            self.errors.append(f"{child}: {outcome}")
        self.records.append(record)

    def mark_warmup(self) -> None:
        """Flag the last wait as the lane's warm-up: the first wait of a fresh process pays
        one-time costs, and it starts while every other waiter process starts too."""
        if self.records:
            self.records[-1]["warmup"] = True

    def out_of_budget(self, started: float) -> bool:
        """Whether the lane's time budget forbids starting another batch."""
        return self.budget_s is not None and time.monotonic() - started >= self.budget_s

    def close(self) -> None:
        self.api.client.close()
        if hasattr(self.control, "close"):
            self.control.close()


def _wait_once_blocking(lane: Lane, run_for: float, count_on_emulator: bool) -> None:
    child, eval_id, _ = lane.dispatch(run_for)
    if count_on_emulator:
        lane.control.reset_counts()
    started = time.time()
    if lane.kind == SYNC:
        from benchmarks.waiters.provider import wait_sync

        outcome = wait_sync(PARENT, child, eval_id, lane.conn_id)
    else:
        outcome = wait_peer(
            lane.kind, lane.nomad_addr, child, eval_id, lane.interval_scale, run_for, lane.cli
        )
    returned = time.time()
    counts = lane.control.request_counts(service="nomad") if count_on_emulator else None
    lane.record(run_for, child, started, returned, outcome, counts)


def run_blocking_lane(lane: Lane) -> None:
    """A lane of the sync path or a peer: one thread per concurrent wait."""
    if lane.mode == "sequential":
        if lane.warmup:
            _wait_once_blocking(lane, lane.runs[0], count_on_emulator=True)
            lane.mark_warmup()
        started = time.monotonic()
        for run_for in lane.runs:
            _wait_once_blocking(lane, run_for, count_on_emulator=True)
            if lane.out_of_budget(started):
                break
        return
    threads = [
        threading.Thread(target=_guarded, args=(lane, _wait_once_blocking, lane, r, False))
        for r in lane.runs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(lane.runs) + WAIT_MARGIN + 60)


async def _trigger_once(lane: Lane, run_for: float, count_on_emulator: bool) -> None:
    from benchmarks.waiters.provider import make_trigger, resume, wait_deferrable

    child, eval_id, created_index = await asyncio.to_thread(lane.dispatch, run_for)
    if count_on_emulator:
        await asyncio.to_thread(lane.control.reset_counts)
    trigger = make_trigger(child, eval_id, lane.conn_id, created_index=created_index)
    started = time.time()
    event = await asyncio.wait_for(wait_deferrable(trigger), run_for + WAIT_MARGIN)
    returned = time.time()
    if event.outcome is not None:
        # The worker's side of the deferred wait: its reads are counted with the trigger's.
        resumed = await asyncio.to_thread(resume, PARENT, lane.conn_id, event)
        if resumed.get("status") != "succeeded":
            lane.errors.append(f"{child}: execute_complete returned {resumed}")
    counts = (
        await asyncio.to_thread(lane.control.request_counts, service="nomad")
        if count_on_emulator
        else None
    )
    outcome = event.outcome.to_dict() if event.outcome else {"result": f"error: {event.error}"}
    outcome["log_lines"] = trigger.log.batch_lines
    await asyncio.to_thread(lane.record, run_for, child, started, returned, outcome, counts)


async def run_trigger_lane(lane: Lane) -> None:
    """A lane of the deferrable path: triggers share this process's one event loop."""
    if lane.mode == "sequential":
        if lane.warmup:
            await _trigger_once(lane, lane.runs[0], count_on_emulator=True)
            lane.mark_warmup()
        started = time.monotonic()
        for run_for in lane.runs:
            await _trigger_once(lane, run_for, count_on_emulator=True)
            if lane.out_of_budget(started):
                break
    else:
        await asyncio.gather(*(_trigger_once(lane, r, False) for r in lane.runs))


def _guarded(lane: Lane, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        lane.errors.append(traceback.format_exc())


async def _guarded_async(lane: Lane, coro: Any) -> None:
    try:
        await coro
    except Exception:
        lane.errors.append(traceback.format_exc())


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    kind = spec["kind"]
    for lane_spec in spec["lanes"]:
        os.environ[f"AIRFLOW_CONN_{lane_spec['conn_id'].upper()}"] = json.dumps(
            {"conn_type": "nomad", "host": lane_spec["nomad_addr"]}
        )
    if kind == DEFERRABLE:
        # Each wait is counted alone, as a lone task's trigger pays for it: its own event
        # stream. The triggerer's default keeps the stream open for the next trigger, which
        # then costs fewer requests (the task-end claim runs that way).
        os.environ["AIRFLOW__NOMAD_TRIGGERER__WATCH_LINGER"] = "0"
    if kind in (SYNC, DEFERRABLE):
        # Import Airflow and the provider before saying "ready": start-up is not waiting.
        from benchmarks.waiters.provider import warm_up

        warm_up([lane_spec["conn_id"] for lane_spec in spec["lanes"]])

    cli = install_nomad_cli(Path(spec["cli_dir"]), sys.executable) if kind in PEERS else None
    lanes = [Lane(s, kind, spec.get("interval_scale", 1.0), cli) for s in spec["lanes"]]
    for lane in lanes:
        lane.set_up()
    emit("ready")
    receive()  # "go": every waiter process is ready, so none is still importing Airflow

    def finished(lane: Lane) -> None:
        emit("lane_done", lane=lane.name, errors=len(lane.errors))

    if kind == DEFERRABLE:

        async def one(lane: Lane) -> None:
            await _guarded_async(lane, run_trigger_lane(lane))
            finished(lane)

        async def run_all() -> None:
            await asyncio.gather(*(one(lane) for lane in lanes))

        asyncio.run(run_all())
    elif kind == SYNC or kind in PEERS:

        def one_blocking(lane: Lane) -> None:
            _guarded(lane, run_blocking_lane, lane)
            finished(lane)

        threads = [threading.Thread(target=one_blocking, args=(lane,)) for lane in lanes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        raise SystemExit(f"unknown waiter kind {kind!r}")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "kind": kind,
        "records": [r for lane in lanes for r in lane.records],
        "errors": [e for lane in lanes for e in lane.errors],
        # CPU of the processes this waiter started (airflow-nomad's nomad CLI stand-ins).
        "children_cpu_s": children.ru_utime + children.ru_stime,
    }
    for lane in lanes:
        lane.close()
    Path(spec["result_path"]).write_text(json.dumps(result, indent=1))
    emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
