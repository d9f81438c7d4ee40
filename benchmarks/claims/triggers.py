"""Claim 3: a thousand ``NomadJobTrigger`` s in one event loop.

The emulator runs in its own process (the CLI), so the RSS and CPU measured are the trigger
process's alone. Children of a ``mock_driver`` parent are dispatched with run times staggered
evenly between two bounds (each prints a line), then handed to the trigger process at once,
as a triggerer picks up a burst of deferred tasks. Latency is each batch's ``FinishedAt`` to
its trigger's event.

Each repeat runs the swarm three times, in the same way: the triggers sharing one event stream
(the default), each trigger with its own blocking queries (``shared_watch=False``), and the
triggers of the provider as it was before the shared watch (``before-watch``: see
:mod:`benchmarks.before_watch`; left out, with the reason, where the checkout has no history).
Each repeat starts with the next of the three. The machine's load average is recorded beside
each run: on a shared machine the figures move with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks import before_watch
from benchmarks.emulator import EmulatorProcess
from benchmarks.jobs import final_allocation, finish_times, mock_batch
from benchmarks.procs import WorkerProcess, worker_env, write_spec
from benchmarks.profile import Profile
from benchmarks.rss import ProcessSampler
from benchmarks.stats import spread, summarize

PARENT = "bench-swarm"
SETUP_CONCURRENCY = 32


@dataclass(frozen=True)
class Mode:
    """How a swarm's triggers wait: through the shared watch or alone, and whether they are the
    provider's of before the shared watch (:mod:`benchmarks.before_watch`)."""

    shared_watch: bool
    before_watch: bool = False


#: Waiting modes compared in each repeat: the shared event stream, per-trigger queries, and
#: the per-trigger queries of the provider before the shared watch.
MODES = {
    "shared": Mode(shared_watch=True),
    "per-trigger": Mode(shared_watch=False),
    "before-watch": Mode(shared_watch=False, before_watch=True),
}
#: How the dispatched jobs reach the trigger process (``Profile.trigger_handover``): ``burst``,
#: all at once once every job is dispatched (a triggerer picking up a backlog, its worst case);
#: ``streamed``, dispatched at ``Profile.trigger_dispatch_rate`` (tasks dispatching as workers
#: run them), each second's jobs handed over a second later (a triggerer picking up deferred
#: tasks as they come: it looks for new triggers once a second).
HANDOVER_INTERVAL = 1.0
#: The harness's own requests (the parent's registration, the dispatches), left out of the
#: trigger process's counts.
HARNESS_ROUTES = ("PUT /v1/jobs", "PUT /v1/job/:job_id/dispatch")
#: Reads of a job's state (what the shared watch's events can spare).
STATE_READ_ROUTES = (
    "GET /v1/job/:job_id/allocations",
    "GET /v1/evaluation/:eval_id",
    "GET /v1/job/:job_id/evaluations",
)


@dataclass(frozen=True)
class Variant:
    """How a swarm's jobs reach it (``burst`` or ``streamed``) and whether its triggers follow
    the logs."""

    stream_logs: bool
    handover: str


#: The variant run besides ``make bench``'s main one: triggers that only wait, handed over as
#: dispatched (what a triggerer sees in a nightly run, where a job's dispatch usually comes
#: through the shared stream and its trigger reads nothing).
WAITING = Variant(stream_logs=False, handover="streamed")
#: Room on the emulated node for every batch at once (each takes 10 MHz and 10 MB).
NODE_CPU_MHZ = 100_000
NODE_MEMORY_MB = 100_000


async def _bounded(calls: list[Any], limit: int) -> list[Any]:
    """Await coroutines at most ``limit`` at a time.

    Handing httpx thousands of requests at once queues them in its connection pool, which
    slows down sharply with the queue's length; a semaphore keeps the pool's queue short.
    """
    gate = asyncio.Semaphore(limit)

    async def one(call: Any) -> Any:
        async with gate:
            return await call

    return await asyncio.gather(*(one(c) for c in calls))


async def _get_json(client: httpx.AsyncClient, path: str, attempts: int = 3) -> Any:
    """GET with a retry when a kept-alive connection was closed under the request."""
    for attempt in range(attempts):
        try:
            reply = await client.get(path)
            reply.raise_for_status()
            return reply.json()
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


async def _dispatch_all(nomad_addr: str, run_fors: list[float]) -> list[list[Any]]:
    """Register the parent, then dispatch a child per run time: ``[job ID, eval ID, its
    EvalCreateIndex]`` each."""
    async with _setup_client(nomad_addr) as client:
        await _register_parent(client)
        return await _dispatch(client, run_fors)


async def _register_parent(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/jobs", json={"Job": mock_batch(PARENT, parameterized=True)})
    response.raise_for_status()


def _setup_client(nomad_addr: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=SETUP_CONCURRENCY)
    return httpx.AsyncClient(base_url=nomad_addr, timeout=120, limits=limits)


async def _dispatch(client: httpx.AsyncClient, run_fors: list[float]) -> list[list[Any]]:
    """``[child job ID, evaluation ID, EvalCreateIndex]`` per dispatch, as the operator hands
    them to its trigger."""

    async def one(run_for: float) -> list[Any]:
        reply = await client.put(
            f"/v1/job/{PARENT}/dispatch", json={"Meta": {"run_for": f"{run_for:.3f}s"}}
        )
        reply.raise_for_status()
        body = reply.json()
        return [body["DispatchedJobID"], body["EvalID"], body["EvalCreateIndex"]]

    return await _bounded([one(r) for r in run_fors], SETUP_CONCURRENCY)


async def _finish_times(nomad_addr: str, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    limits = httpx.Limits(max_connections=SETUP_CONCURRENCY)
    async with httpx.AsyncClient(base_url=nomad_addr, timeout=120, limits=limits) as client:

        async def read(job_id: str) -> tuple[str, dict[str, Any]]:
            allocs = await _get_json(client, f"/v1/job/{job_id}/allocations")
            if not allocs:
                return job_id, {"task_finished": None, "alloc_modified": None, "status": None}
            alloc = final_allocation(allocs)
            return job_id, {**finish_times(alloc), "status": alloc.get("ClientStatus")}

        return dict(await _bounded([read(j) for j in job_ids], SETUP_CONCURRENCY))


async def _hand_over_as_dispatched(
    nomad_addr: str, run_fors: list[float], worker: WorkerProcess, rate: float
) -> list[list[Any]]:
    """Dispatch ``rate`` jobs a second (as running tasks dispatch them), and every
    :data:`HANDOVER_INTERVAL` send the worker the jobs dispatched meanwhile; then ``end``."""
    per_interval = max(1, round(rate * HANDOVER_INTERVAL))
    chunks = [run_fors[i : i + per_interval] for i in range(0, len(run_fors), per_interval)]
    loop = asyncio.get_running_loop()
    jobs: list[list[Any]] = []
    async with _setup_client(nomad_addr) as client:
        await _register_parent(client)
        started = loop.time()
        for n, chunk in enumerate([*chunks, []]):
            await asyncio.sleep(max(0.0, started + n * HANDOVER_INTERVAL - loop.time()))
            dispatched = await _dispatch(client, chunk)
            if n:
                # The previous interval's jobs, as a triggerer's next look for new triggers
                # finds them.
                worker.send(command="jobs", jobs=jobs[-len(chunks[n - 1]) :])
            jobs.extend(dispatched)
    worker.send(command="end")
    return jobs


def staggered(count: int, first: float, last: float) -> list[float]:
    """``count`` run times spread evenly from ``first`` to ``last`` seconds."""
    if count == 1:
        return [first]
    return [first + (last - first) * i / (count - 1) for i in range(count)]


class TriggerBenchmark:
    """Runs the swarm ``trigger_repeats`` times, each against a fresh emulator.

    :param profile: sizes.
    :param workdir: scratch directory.
    """

    def __init__(self, profile: Profile, workdir: Path) -> None:
        self.profile = profile
        self.workdir = workdir
        self._before_watch_dir: Path | None = None
        self._repeats_run = 0  # over both variants: which mode starts the next repeat

    def run(self) -> dict[str, Any]:
        p = self.profile
        self._before_watch_dir, skipped = before_watch.extract(self.workdir / "before-watch")
        main = Variant(p.trigger_logs, p.trigger_handover)
        summary = self._compared(main, p.trigger_repeats)
        if p.trigger_waiting_repeats and main != WAITING:
            summary["waiting"] = self._compared(WAITING, p.trigger_waiting_repeats)
        summary["before_watch_skipped"] = skipped
        return summary

    def _compared(self, variant: Variant, repeats: int) -> dict[str, Any]:
        """Every waiting mode, ``repeats`` times: the shared watch's summary, the per-trigger
        waits' under ``per_trigger``, those before the shared watch under ``before_watch``,
        every run under ``runs``."""
        modes = [m for m, how in MODES.items() if self._before_watch_dir or not how.before_watch]
        runs: list[dict[str, Any]] = []
        for r in range(repeats):
            # Each repeat starts with the next mode, so a drift of the machine's load over a
            # repeat does not always fall on the same one.
            first = self._repeats_run % len(modes)
            self._repeats_run += 1
            runs += [self._run_once(r, mode, variant) for mode in modes[first:] + modes[:first]]
        summary = self._summarize([r for r in runs if r["mode"] == "shared"])
        summary["runs"] = runs
        summary["per_trigger"] = self._summarize([r for r in runs if r["mode"] == "per-trigger"])
        before = [r for r in runs if r["mode"] == "before-watch"]
        summary["before_watch"] = self._summarize(before) if before else None
        summary["before_watch_commit"] = before_watch.COMMIT if before else None
        return summary

    def _run_once(self, repeat: int, mode: str, variant: Variant) -> dict[str, Any]:
        p = self.profile
        logs = "logs" if variant.stream_logs else "waiting"
        tag = f"{repeat}-{mode}-{variant.handover}-{logs}"
        emulator = EmulatorProcess(self.workdir / "logs" / f"emulator-triggers-{tag}.log")
        result_path = self.workdir / f"triggers-{tag}.json"
        spec = {
            "nomad_addr": "",
            "result_path": str(result_path),
            "shared_watch": MODES[mode].shared_watch,
            "mode": mode,
            "stream_logs": variant.stream_logs,
            "handover": variant.handover,
            # Set (to a directory) to profile the swarm: never for the figures reported.
            "profile_dir": os.environ.get("BENCH_TRIGGER_PROFILE_DIR"),
            # tracemalloc too (several times slower): BENCH_TRIGGER_PROFILE_HEAP=1.
            "profile_heap": os.environ.get("BENCH_TRIGGER_PROFILE_HEAP") == "1",
        }
        worker: WorkerProcess | None = None
        try:
            emulator.start()
            spec["nomad_addr"] = emulator.nomad_addr
            worker = WorkerProcess(
                "benchmarks.workers.trigger_swarm",
                [str(write_spec(self.workdir / "specs", "triggers", spec))],
                self.workdir / "logs" / f"worker-triggers-{tag}.log",
                worker_env(self.workdir / "airflow-home"),
                cwd=self._before_watch_dir if MODES[mode].before_watch else None,
            ).start()
            worker.wait_for("ready", timeout=300)
            sampler = ProcessSampler(worker.pid, interval=0.05).start()
            emulator_sampler = ProcessSampler(emulator.pid, interval=0.25).start()
            for node in emulator.control.nodes():
                emulator.control.set_node(node["ID"], cpu=NODE_CPU_MHZ, memory=NODE_MEMORY_MB)
            run_fors = staggered(p.triggers, *p.trigger_run_for)
            load_before = os.getloadavg()
            dispatched_at = time.time()
            timeout = p.trigger_run_for[1] + 300
            if variant.handover == "streamed":
                emulator.control.reset_counts()
                emulator_cpu_before = emulator_sampler.cpu_seconds or 0.0
                worker.send(command="go", jobs=[], timeout=timeout)
                rate = p.trigger_dispatch_rate
                jobs = asyncio.run(
                    _hand_over_as_dispatched(emulator.nomad_addr, run_fors, worker, rate)
                )
            else:
                jobs = asyncio.run(_dispatch_all(emulator.nomad_addr, run_fors))
                emulator.control.reset_counts()
                emulator_cpu_before = emulator_sampler.cpu_seconds or 0.0
                worker.send(command="go", jobs=jobs, timeout=timeout)
            worker.wait_for("done", timeout=timeout + 60)
            load_after = os.getloadavg()
            sampler.stop()
            emulator_sampler.stop()
            worker.wait(timeout=60)
            counts = emulator.control.request_counts(service="nomad")
            for route in HARNESS_ROUTES:
                counts.pop(route, None)
            result = json.loads(result_path.read_text())
            finishes = asyncio.run(_finish_times(emulator.nomad_addr, [j for j, *_ in jobs]))
        finally:
            if worker is not None:
                worker.stop()
            emulator.stop()
        latencies, missing, early = [], 0, 0
        for job_id, *_ in jobs:
            event = result["events"].get(job_id)
            finished = finishes[job_id]["task_finished"]
            if event is None or finished is None or event["result"] != "succeeded":
                missing += 1  # already counted as an error by the worker, or never fired
                continue
            latency = event["at"] - finished / 1e9
            if latency < 0:
                early += 1  # an event before the batch ended would be a bug
                continue
            latencies.append(latency)
        peak = max(sampler.peak, result["ru_maxrss"])
        lags = [lag for _, lag in result["loop_lag"]]
        swarm_seconds = result["finished"] - result["started"]
        return {
            "mode": mode,
            "loadavg_before": list(load_before),
            "loadavg_after": list(load_after),
            "triggers": p.triggers,
            "stream_logs": variant.stream_logs,
            "handover": variant.handover,
            "run_for": list(p.trigger_run_for),
            "dispatch_seconds": result["started"] - dispatched_at,
            "swarm_seconds": swarm_seconds,
            "events": len(result["events"]),
            "errors": result["errors"][:20],
            # Missing events and failed outcomes are both in the worker's list already.
            "error_count": max(len(result["errors"]), missing) + early,
            "provider": self._provider(Path(result["provider_path"])),
            "ssl_contexts_built": result["ssl_contexts"]["built"],
            "ssl_context_cpu_s": result["ssl_contexts"]["thread_cpu_s"],
            "first_batch_end_s": min(
                (f["task_finished"] / 1e9 for f in finishes.values() if f["task_finished"]),
                default=result["started"],
            )
            - result["started"],
            "latency_s": summarize(latencies),
            "latency_samples_s": latencies,
            "peak_rss": peak,
            "rss_before": result["rss_before"],
            "cpu_seconds": result["cpu_seconds"],
            "emulator_cpu_seconds": (emulator_sampler.cpu_seconds or 0.0) - emulator_cpu_before,
            "emulator_peak_rss": emulator_sampler.peak,
            "requests": sum(counts.values()),
            "requests_by_route": counts,
            # What waiting costs, log streams apart: allocation/evaluation reads and the stream.
            "wait_requests": sum(v for k, v in counts.items() if "/client/fs/" not in k),
            "state_reads": sum(counts.get(route, 0) for route in STATE_READ_ROUTES),
            "event_streams": counts.get("GET /v1/event/stream", 0),
            "request_rate_per_s": sum(counts.values()) / swarm_seconds if swarm_seconds else None,
            "loop_lag_s": {"max": max(lags, default=0.0), "p99": summarize(lags)["p99"]},
            "loop_lag_timeline": [
                (round(t - result["started"], 2), round(lag, 4)) for t, lag in result["loop_lag"]
            ],
            "rss_timeline": [(round(t, 3), rss) for t, rss in sampler.timeline(800)],
            # The garbage collector's full collections (they hold the loop too).
            "full_collections": [
                (round(t - result["started"], 2), round(pause, 4))
                for t, pause in result.get("full_collections", [])
            ],
        }

    def _provider(self, imported: Path) -> str:
        """Which provider a swarm imported, by name rather than by this machine's paths:
        ``today`` (this checkout's) or the before-watch commit's short ID."""
        if imported == before_watch.REPO_ROOT / "airflow_provider_nomad":
            return "today"
        if self._before_watch_dir and imported == self._before_watch_dir / "airflow_provider_nomad":
            return before_watch.COMMIT[:7]
        return f"unknown ({imported.name})"

    @staticmethod
    def _summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "runs": runs,
            "peak_rss": spread(r["peak_rss"] for r in runs),
            "cpu_seconds": spread(r["cpu_seconds"] for r in runs),
            "latency_p50_s": spread(r["latency_s"]["p50"] for r in runs if r["latency_s"]["n"]),
            "latency_p99_s": spread(r["latency_s"]["p99"] for r in runs if r["latency_s"]["n"]),
            "error_count": sum(r["error_count"] for r in runs),
            "requests_per_trigger": spread(r["requests"] / r["triggers"] for r in runs),
            "wait_requests_per_trigger": spread(r["wait_requests"] / r["triggers"] for r in runs),
            "state_reads_per_trigger": spread(r["state_reads"] / r["triggers"] for r in runs),
            "cpu_ms_per_trigger": spread(1000 * r["cpu_seconds"] / r["triggers"] for r in runs),
        }
