"""Claim 2: streaming a big log, against ``curl`` reading the same log as the ceiling.

A ``raw_exec`` batch prints known lines (:mod:`benchmarks.logdata`) into rotated files. Once it
has ended, the same log is read, alternately, by ``curl`` from the plain endpoint and by the
provider's ``JobFollower`` in a worker process (sink mode), each ``log_repeats`` times; then
once more by the follower writing every line through a logging handler, and once by ``curl``
from the framed endpoint (what the follower streams while a task runs, to tell the emulator's
framing cost from the follower's). The follower's RSS is sampled from outside.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.emulator import EmulatorProcess
from benchmarks.jobs import TASK, NomadApi, final_allocation, log_writer_batch
from benchmarks.load import machine_load
from benchmarks.logdata import crc32_of
from benchmarks.procs import WorkerProcess, worker_env, write_spec
from benchmarks.profile import Profile
from benchmarks.rss import ProcessSampler
from benchmarks.stats import spread

JOB_ID = "bench-log"
MB = 1_000_000


def _log_url(nomad_addr: str, alloc_id: str, plain: bool) -> str:
    query = f"task={TASK}&type=stdout&origin=start&offset=0"
    if plain:
        query += "&plain=true"
    return f"{nomad_addr}/v1/client/fs/logs/{alloc_id}?{query}"


def curl_read(url: str, timeout: float) -> dict[str, Any]:
    """Read ``url`` with curl into /dev/null; bytes, seconds and MB/s as curl measured them."""
    curl = shutil.which("curl")
    if curl is None:
        raise RuntimeError("curl is not installed: it is the reference reader of claim 2")
    out = subprocess.run(
        [curl, "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    ).stdout.split()
    size, seconds = int(out[0]), float(out[1])
    return {"bytes": size, "seconds": seconds, "mb_per_s": size / seconds / MB}


class LogBenchmark:
    """One emulator, one big log, several readers.

    :param profile: sizes.
    :param workdir: scratch directory.
    """

    def __init__(self, profile: Profile, workdir: Path) -> None:
        self.profile = profile
        self.workdir = workdir
        self.emulator = EmulatorProcess(workdir / "logs" / "emulator-logs.log")

    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        finally:
            self.emulator.stop()

    def _run(self) -> dict[str, Any]:
        p = self.profile
        self.emulator.start()
        expected: dict[str, str] = {}
        hasher = threading.Thread(
            target=lambda: expected.update(crc32=crc32_of(p.log_bytes, p.log_line_bytes)),
            daemon=True,
        )
        hasher.start()
        api = NomadApi(httpx.Client(base_url=self.emulator.nomad_addr, timeout=330))
        try:
            started = time.perf_counter()
            api.register(
                log_writer_batch(
                    JOB_ID,
                    total_bytes=p.log_bytes,
                    line_bytes=p.log_line_bytes,
                    max_files=p.log_max_files,
                    file_mb=p.log_file_mb,
                )
            )
            allocs = api.wait_until_finished(JOB_ID, timeout=900)
            write_seconds = time.perf_counter() - started
            alloc = final_allocation(allocs)
            if alloc["ClientStatus"] != "complete":
                raise RuntimeError(f"the log-writing batch ended {alloc['ClientStatus']}")
            alloc_id = alloc["ID"]
            retained = self._retained_bytes(api, alloc_id)
        finally:
            api.client.close()
        hasher.join(timeout=600)
        plain_url = _log_url(self.emulator.nomad_addr, alloc_id, plain=True)
        # The ratio to curl moves with the machine's load: recorded around the reads.
        load_before = machine_load()
        timeout = max(600.0, p.log_bytes / MB)  # a reader slower than 1 MB/s has failed
        curl_runs: list[dict[str, Any]] = []
        follower_runs: list[dict[str, Any]] = []
        for repeat in range(p.log_repeats):
            # Alternate who reads first, so neither always meets the colder cache.
            readers = ["curl", "follower"] if repeat % 2 == 0 else ["follower", "curl"]
            for reader in readers:
                if reader == "curl":
                    curl_runs.append(curl_read(plain_url, timeout))
                else:
                    follower_runs.append(self._follow("sink", repeat, timeout))
        framed = curl_read(_log_url(self.emulator.nomad_addr, alloc_id, plain=False), timeout)
        # Framed bytes are JSON with base64 data: rate the log bytes they carry, as for the rest.
        framed["wire_bytes"] = framed.pop("bytes")
        framed["mb_per_s"] = p.log_bytes / framed["seconds"] / MB
        handler_run = self._follow("handler", 0, timeout)
        load_after = machine_load()
        summary = self._summarize(
            expected_crc32=expected.get("crc32", ""),
            write_seconds=write_seconds,
            retained=retained,
            curl_runs=curl_runs,
            follower_runs=follower_runs,
            framed=framed,
            handler_run=handler_run,
        )
        return {**summary, "load_before": load_before, "load_after": load_after}

    @staticmethod
    def _retained_bytes(api: NomadApi, alloc_id: str) -> int:
        response = api.client.get(f"/v1/client/fs/ls/{alloc_id}", params={"path": "alloc/logs"})
        response.raise_for_status()
        prefix = f"{TASK}.stdout."
        return sum(e["Size"] for e in response.json() if e["Name"].startswith(prefix))

    def _follow(self, mode: str, repeat: int, timeout: float) -> dict[str, Any]:
        handler_path = self.workdir / "follower-task.log"
        result_path = self.workdir / f"follower-{mode}-{repeat}.json"
        spec = {
            "nomad_addr": self.emulator.nomad_addr,
            "job_id": JOB_ID,
            "mode": mode,
            "handler_path": str(handler_path),
            "result_path": str(result_path),
        }
        worker = WorkerProcess(
            "benchmarks.workers.log_follower",
            [str(write_spec(self.workdir / "specs", f"follower-{mode}", spec))],
            self.workdir / "logs" / f"worker-follower-{mode}-{repeat}.log",
            worker_env(self.workdir / "airflow-home"),
        ).start()
        try:
            worker.wait_for("ready", timeout=300)
            sampler = ProcessSampler(worker.pid).start()
            worker.send(command="go")
            worker.wait_for("done", timeout=timeout)
            sampler.stop()
            worker.wait(timeout=60)
        finally:
            worker.stop()
            handler_path.unlink(missing_ok=True)
        result = json.loads(result_path.read_text())
        peak = max(sampler.peak, result["ru_maxrss"])
        result["peak_rss"] = peak
        result["rss_growth"] = peak - result["rss_before"]
        result["rss_timeline"] = [(round(t, 3), rss) for t, rss in sampler.timeline(600)]
        result["mb_per_s"] = result["bytes"]["stdout"] / result["seconds"] / MB
        return result

    def _summarize(
        self,
        *,
        expected_crc32: str,
        write_seconds: float,
        retained: int,
        curl_runs: list[dict[str, Any]],
        follower_runs: list[dict[str, Any]],
        framed: dict[str, Any],
        handler_run: dict[str, Any],
    ) -> dict[str, Any]:
        p = self.profile
        ratios = [
            f["mb_per_s"] / c["mb_per_s"] for f, c in zip(follower_runs, curl_runs, strict=True)
        ]
        sink_mb_s = spread(r["mb_per_s"] for r in follower_runs)
        return {
            "bytes_written": p.log_bytes,
            "line_bytes": p.log_line_bytes,
            "log_config": {"MaxFiles": p.log_max_files, "MaxFileSizeMB": p.log_file_mb},
            "bytes_retained": retained,
            "expected_crc32": expected_crc32,
            "write_seconds": write_seconds,
            "curl_plain": {"runs": curl_runs, "mb_per_s": spread(c["mb_per_s"] for c in curl_runs)},
            "curl_framed": framed,
            "follower": {
                "runs": follower_runs,
                "mb_per_s": sink_mb_s,
                "ratio_to_curl": spread(ratios),
                "rss_growth": spread(r["rss_growth"] for r in follower_runs),
                "bytes_equal": all(
                    r["bytes"]["stdout"] == p.log_bytes
                    and r["stdout_crc32"] == expected_crc32
                    and r["outcome"] == "succeeded"
                    for r in follower_runs
                ),
            },
            "follower_with_handler": {
                **handler_run,
                "bytes_equal": handler_run["bytes"]["stdout"] == p.log_bytes
                and handler_run["stdout_crc32"] == expected_crc32,
                "handler_cost_s_per_gb": _handler_cost(handler_run, follower_runs),
            },
            "curl_bytes_equal": all(c["bytes"] == p.log_bytes for c in curl_runs),
        }


def _handler_cost(handler_run: dict[str, Any], sink_runs: list[dict[str, Any]]) -> float:
    """Seconds the logging handler adds per GB (10^9 bytes) of log, over the sink's median.

    Computed from rates, so it holds even when the handler run did not get the whole log.
    """
    sink_rate = sorted(r["mb_per_s"] for r in sink_runs)[len(sink_runs) // 2]
    return 1000.0 / handler_run["mb_per_s"] - 1000.0 / sink_rate
