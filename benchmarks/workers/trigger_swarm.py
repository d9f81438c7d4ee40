"""Worker process: many ``NomadJobTrigger`` s at once in one event loop, as a triggerer runs them.

Run as ``python -m benchmarks.workers.trigger_swarm SPEC.json`` (``"shared_watch": false`` in
the spec: each trigger waits with its own blocking queries); the harness sends the jobs to
follow on stdin once this process has imported everything, and samples its RSS from outside.
With ``"handover": "streamed"`` the ``go`` command carries no job: further ``jobs`` commands
hand them over as they are dispatched, and ``end`` says no more will come.
A probe coroutine records how late the event loop wakes it (the triggerer's own health
measure: Airflow warns when a trigger blocks the loop), sampled every ``PROBE_INTERVAL``.

Building an ``ssl.SSLContext`` (CA bundles loaded) is the costliest step of opening a hook's
HTTP client, so :func:`count_ssl_contexts` wraps the provider's one factory of them to count
the contexts built and the thread CPU they took (a few microseconds of overhead per call).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import resource
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import psutil

from benchmarks.procs import emit, receive

CONN_ID = "nomad_bench_triggers"
PROBE_INTERVAL = 0.1


async def _probe_loop_lag(stop: asyncio.Event, lags: list[tuple[float, float]]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), PROBE_INTERVAL)
        lags.append((time.time(), max(0.0, loop.time() - before - PROBE_INTERVAL)))


async def _streamed_jobs() -> Any:
    """The jobs of the harness's ``jobs`` commands, a command at a time, until ``end``."""
    while True:
        command = await asyncio.to_thread(receive)
        if command["command"] == "end":
            return
        yield command["jobs"]


async def run_swarm(
    jobs: list[list[Any]],
    timeout: float,
    shared_watch: bool = True,
    on_first_event: Any = None,
    stream_logs: bool = True,
    more_jobs: Any = None,
) -> dict[str, Any]:
    from benchmarks.waiters.provider import make_trigger, wait_deferrable

    events: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    lags: list[tuple[float, float]] = []
    stop = asyncio.Event()

    async def one(job_id: str, eval_id: str, created_index: int) -> None:
        try:
            trigger = make_trigger(
                job_id,
                eval_id,
                CONN_ID,
                created_index=created_index,
                shared_watch=shared_watch,
                stream_logs=stream_logs,
            )
            event = await wait_deferrable(trigger)
        except Exception:
            errors.append(f"{job_id}: {traceback.format_exc(limit=3)}")
            return
        result = event.outcome.result.value if event.outcome else f"error: {event.error}"
        if not events and on_first_event is not None:
            on_first_event()
        events[job_id] = {"at": time.time(), "result": result}
        if result != "succeeded":
            errors.append(f"{job_id}: {result}")

    probe = asyncio.create_task(_probe_loop_lag(stop, lags))
    started = time.time()
    tasks = [asyncio.create_task(one(*job)) for job in jobs]
    if more_jobs is not None:
        async for handed in more_jobs:
            tasks.extend(asyncio.create_task(one(*job)) for job in handed)
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        errors.append(f"{len(pending)} trigger(s) fired no event within {timeout:.0f} s")
    stop.set()
    await probe
    return {"started": started, "events": events, "errors": errors, "loop_lag": lags}


class FullCollections:
    """The garbage collector's full (generation 2) collections: when, and how long each took.

    A full collection walks every live object and holds the event loop meanwhile; with
    thousands of triggers' objects alive it is one of the loop's longest pauses.
    """

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.time(), time.perf_counter() - self._started))


class SslContextCounter:
    """Counts calls of ``connection.ssl_context`` and the thread CPU time spent in them."""

    def __init__(self) -> None:
        self.built = 0
        self.thread_cpu_s = 0.0
        self._lock = threading.Lock()

    def wrap(self, factory: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return factory(*args, **kwargs)
            finally:
                with self._lock:
                    self.built += 1
                    self.thread_cpu_s += time.thread_time() - started

        return counted


def count_ssl_contexts() -> SslContextCounter:
    from airflow_provider_nomad import connection

    counter = SslContextCounter()
    connection.ssl_context = counter.wrap(connection.ssl_context)
    return counter


@contextlib.contextmanager
def _profiled(profile_dir: str | None, tag: str, heap: bool) -> Any:
    """With ``profile_dir``: cProfile stats (and with ``heap`` the top tracemalloc sites) of
    the swarm, there.

    Both slow the swarm down (tracemalloc by several times): for finding where CPU and memory
    go, never for the figures the report prints.
    """
    if not profile_dir:
        yield None
        return
    import cProfile
    import tracemalloc

    out = Path(profile_dir)
    out.mkdir(parents=True, exist_ok=True)
    if heap:
        tracemalloc.start(8)
    profiler = cProfile.Profile()

    def snapshot() -> None:
        if not heap:
            return
        # At the first batch's end every other trigger still waits with its logs open: the
        # heap is near its peak (after the swarm, it is long freed).
        live = tracemalloc.take_snapshot()
        lines = [f"traced: {tracemalloc.get_traced_memory()[0] / 1e6:.1f} MB"]
        for stat in live.statistics("traceback")[:40]:
            lines.append(f"{stat.size / 1e6:.2f} MB in {stat.count} blocks")
            lines.extend("    " + line for line in stat.traceback.format(limit=8))
        by_file = live.statistics("filename")[:40]
        lines.append("\n-- by file --")
        lines.extend(f"{s.size / 1e6:.2f} MB {s.traceback[0].filename}" for s in by_file)
        (out / f"swarm-{tag}-heap.txt").write_text("\n".join(lines))

    profiler.enable()
    try:
        yield snapshot
    finally:
        profiler.disable()
        if heap:
            tracemalloc.stop()
        profiler.dump_stats(out / f"swarm-{tag}.prof")


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
        {"conn_type": "nomad", "host": spec["nomad_addr"]}
    )
    # Import and resolve the connection before "ready": a triggerer has long done both.
    from benchmarks.waiters.provider import warm_up

    warm_up([CONN_ID])
    import airflow_provider_nomad

    ssl_counter = count_ssl_contexts()
    full_collections = FullCollections()
    gc.callbacks.append(full_collections)
    rss_before = psutil.Process().memory_info().rss
    emit("ready", rss_before=rss_before)
    command = receive()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    tag = spec.get("mode") or ("shared" if spec.get("shared_watch", True) else "own")
    with _profiled(spec.get("profile_dir"), tag, spec.get("profile_heap", False)) as snapshot:
        result = asyncio.run(
            run_swarm(
                command["jobs"],
                command["timeout"],
                spec.get("shared_watch", True),
                snapshot,
                spec.get("stream_logs", True),
                _streamed_jobs() if spec.get("handover") == "streamed" else None,
            )
        )
    after = resource.getrusage(resource.RUSAGE_SELF)
    result.update(
        rss_before=rss_before,
        ru_maxrss=after.ru_maxrss * 1024,  # Linux reports KiB
        cpu_seconds=(after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime),
        finished=time.time(),
        ssl_contexts={"built": ssl_counter.built, "thread_cpu_s": ssl_counter.thread_cpu_s},
        full_collections=full_collections.pauses,
        # Which provider ran: today's, or the one before the shared watch (its own copy).
        provider_path=str(Path(airflow_provider_nomad.__file__).resolve().parent),
    )
    Path(spec["result_path"]).write_text(json.dumps(result))
    emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
