"""Worker process: follow a finished batch's logs with the provider's ``JobFollower``.

Run as ``python -m benchmarks.workers.log_follower SPEC.json``. The harness samples this
process's RSS from outside while it runs. Two modes:

- ``sink``: every chunk of whole lines goes to a sink that counts its bytes and checksums
  stdout (``on_chunk``), which prices reading and assembling alone;
- ``handler``: the same sink, then the follower's default per-line output (one ``log.info``
  per line) into a ``logging.FileHandler`` with Airflow's classic task-log format, which
  prices the logging handler on top (the difference between the two modes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import psutil

from benchmarks.procs import emit, receive

CONN_ID = "nomad_bench_logs"
TASK_LOG_FORMAT = "[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"


class CountingSink:
    """Counts bytes per stream; checksums stdout as the bytes the batch wrote."""

    def __init__(self) -> None:
        self.stdout_crc32 = 0
        self.bytes: dict[str, int] = {"stdout": 0, "stderr": 0}

    def __call__(self, chunk: Any) -> None:
        data = chunk.data
        stream = chunk.key.stream
        self.bytes[stream] += len(data)
        if stream == "stdout":
            self.stdout_crc32 = zlib.crc32(data, self.stdout_crc32)


def _task_logger(path: str) -> logging.Logger:
    logger = logging.getLogger("bench.task")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(TASK_LOG_FORMAT))
    logger.addHandler(handler)
    return logger


async def follow(job_id: str, mode: str, sink: CountingSink, handler_path: str | None) -> Any:
    from airflow_provider_nomad.hooks.nomad import NomadAsyncHook
    from airflow_provider_nomad.nomad import follow as follow_module
    from airflow_provider_nomad.nomad.follow import JobFollower

    if mode == "handler":
        logger = _task_logger(handler_path or os.devnull)
        write_lines = follow_module._line_by_line(follow_module._log_line_to(logger))

        def on_chunk(chunk: Any) -> None:
            sink(chunk)
            write_lines(chunk)

    else:
        logger = logging.getLogger("bench.follower")
        on_chunk = sink
    async with NomadAsyncHook(CONN_ID) as hook:
        follower = JobFollower(hook, job_id, on_chunk=on_chunk, log=logger)
        return await follower.run()


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
        {"conn_type": "nomad", "host": spec["nomad_addr"]}
    )
    # Import and resolve the connection before "ready": a worker has long done both.
    import airflow_provider_nomad.nomad.follow  # noqa: F401
    from benchmarks.waiters.provider import warm_up

    warm_up([CONN_ID])

    sink = CountingSink()
    rss_before = psutil.Process().memory_info().rss
    emit("ready", rss_before=rss_before)
    receive()  # "go": the harness is sampling this process
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    outcome = asyncio.run(follow(spec["job_id"], spec["mode"], sink, spec.get("handler_path")))
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "mode": spec["mode"],
        "seconds": seconds,
        "bytes": sink.bytes,
        "stdout_crc32": f"{sink.stdout_crc32:08x}",
        "outcome": outcome.result.value,
        "rss_before": rss_before,
        "ru_maxrss": after.ru_maxrss * 1024,  # Linux reports KiB
        "cpu_seconds": (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime),
    }
    Path(spec["result_path"]).write_text(json.dumps(result))
    emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
