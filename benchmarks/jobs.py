"""The batches the benchmarks run, and the few API calls that set them up and read them back.

Set-up goes through plain httpx, never through the provider's hooks, so nothing the harness
does is mistaken for the provider's own work (request counts are reset after set-up anyway).
"""

from __future__ import annotations

import calendar
import sys
import time
from pathlib import Path
from typing import Any

import httpx

NS = 1_000_000_000
#: What the mock batches print: one line, again and again for a continuously printing batch.
BATCH_LINE = "bench line\n"
TASK = "main"
GROUP = "batch"
#: The emulator caps a blocking query's wait at five minutes, as Nomad does.
_BLOCKING_WAIT = "300s"


def _group(task: dict[str, Any], disk_mb: int = 300) -> dict[str, Any]:
    return {
        "Name": GROUP,
        "Count": 1,
        "EphemeralDisk": {"SizeMB": disk_mb},
        # A benchmark batch that fails must fail once, visibly: no restarts, no reschedules.
        "RestartPolicy": {"Attempts": 0, "Interval": 3600 * NS, "Delay": NS, "Mode": "fail"},
        "ReschedulePolicy": {
            "Attempts": 0,
            "Interval": 3600 * NS,
            "Delay": NS,
            "DelayFunction": "constant",
            "Unlimited": False,
        },
        "Tasks": [task],
    }


def mock_batch(
    job_id: str,
    *,
    run_for: float | None = None,
    stdout: str = BATCH_LINE,
    parameterized: bool = False,
    print_every: float | None = None,
) -> dict[str, Any]:
    """A ``mock_driver`` batch that prints ``stdout`` once and runs ``run_for`` seconds.

    As a parameterized parent, each child takes its run time from the ``run_for`` meta key, so
    one parent serves batches of any length. With ``print_every`` (parameterized only), the
    line is printed again every that many seconds, ``repeat`` (a meta key) more times: see
    :func:`continuous_meta`.
    """
    config: dict[str, Any] = {"stdout_string": stdout, "exit_code": 0}
    config["run_for"] = "${NOMAD_META_run_for}" if parameterized else f"{run_for}s"
    if print_every is not None:
        if not parameterized:
            raise ValueError("print_every needs a parameterized batch (repeat is a meta key)")
        config["stdout_repeat"] = "${NOMAD_META_repeat}"
        config["stdout_repeat_duration"] = f"{print_every:g}s"
    task = {
        "Name": TASK,
        "Driver": "mock_driver",
        "Config": config,
        # Nomad's smallest valid task, so a thousand of them fit on the emulated nodes.
        "Resources": {"CPU": 10, "MemoryMB": 10},
        "LogConfig": {"MaxFiles": 2, "MaxFileSizeMB": 1},
    }
    job: dict[str, Any] = {
        "ID": job_id,
        "Name": job_id,
        "Type": "batch",
        "Datacenters": ["dc1"],
        "TaskGroups": [_group(task, disk_mb=10)],
    }
    if parameterized:
        job["ParameterizedJob"] = {
            "Payload": "forbidden",
            "MetaRequired": ["run_for", "repeat"] if print_every is not None else ["run_for"],
            "MetaOptional": [],
        }
    return job


def continuous_meta(run_for: float, print_every: float) -> tuple[dict[str, str], int]:
    """Dispatch meta for a batch printing a line every ``print_every`` s for ``run_for`` s,
    and how many lines it prints (the first one at its start)."""
    repeat = max(0, int(run_for / print_every) - 1)
    return {"run_for": f"{run_for:.3f}s", "repeat": str(repeat)}, repeat + 1


def log_writer_batch(
    job_id: str, *, total_bytes: int, line_bytes: int, max_files: int, file_mb: int
) -> dict[str, Any]:
    """A ``raw_exec`` batch printing ``total_bytes`` of known lines (see :mod:`logdata`)."""
    script = Path(__file__).with_name("logdata.py")
    task = {
        "Name": TASK,
        "Driver": "raw_exec",
        "Config": {
            "command": sys.executable,
            "args": [str(script), "--bytes", str(total_bytes), "--line", str(line_bytes)],
        },
        "Resources": {"CPU": 100, "MemoryMB": 64},
        "LogConfig": {"MaxFiles": max_files, "MaxFileSizeMB": file_mb},
    }
    return {
        "ID": job_id,
        "Name": job_id,
        "Type": "batch",
        "Datacenters": ["dc1"],
        "TaskGroups": [_group(task)],
    }


class NomadApi:
    """The handful of Nomad calls the harness itself makes (plain httpx).

    :param client: an httpx client whose ``base_url`` is the emulator's Nomad address.
    """

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _json(self, method: str, path: str, **kwargs: Any) -> tuple[Any, int]:
        response = self.client.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json(), int(response.headers.get("X-Nomad-Index") or 0)

    def register(self, job: dict[str, Any]) -> dict[str, Any]:
        body, _ = self._json("PUT", "/v1/jobs", json={"Job": job})
        return body

    def dispatch(self, parent: str, meta: dict[str, str]) -> tuple[str, str, int]:
        """Dispatch a child; return ``(child job ID, evaluation ID, its EvalCreateIndex)``."""
        body, _ = self._json("PUT", f"/v1/job/{parent}/dispatch", json={"Meta": meta})
        return body["DispatchedJobID"], body["EvalID"], body["EvalCreateIndex"]

    def allocations(self, job_id: str, index: int = 0) -> tuple[list[dict[str, Any]], int]:
        params = {"index": str(index), "wait": _BLOCKING_WAIT} if index else {}
        return self._json("GET", f"/v1/job/{job_id}/allocations", params=params)

    def allocation(self, alloc_id: str) -> dict[str, Any]:
        body, _ = self._json("GET", f"/v1/allocation/{alloc_id}")
        return body

    def wait_until_finished(self, job_id: str, timeout: float) -> list[dict[str, Any]]:
        """Block (blocking queries, no polling) until every allocation of the job is terminal."""
        deadline = time.monotonic() + timeout
        index = 0
        while time.monotonic() < deadline:
            allocs, new_index = self.allocations(job_id, index=index)
            if allocs and all(a["ClientStatus"] in ("complete", "failed", "lost") for a in allocs):
                return allocs
            index = max(new_index, 1)
        raise TimeoutError(f"job {job_id} did not finish within {timeout:.0f} s")

    def wait_until_running(self, job_id: str, timeout: float) -> list[dict[str, Any]]:
        """Block until the job has an allocation whose task has started (or ended)."""
        deadline = time.monotonic() + timeout
        index = 0
        while time.monotonic() < deadline:
            allocs, new_index = self.allocations(job_id, index=index)
            if any(a["ClientStatus"] != "pending" for a in allocs):
                return allocs
            index = max(new_index, 1)
        raise TimeoutError(f"job {job_id} did not start within {timeout:.0f} s")


def parse_go_time(text: str | None) -> int | None:
    """Unix nanoseconds of a Go RFC 3339 timestamp (``...T12:00:00.123456789Z``)."""
    if not text or text.startswith("0001-01-01"):
        return None
    stamp = text.rstrip("Z")
    base, _, frac = stamp.partition(".")
    seconds = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return seconds * NS + int((frac or "0").ljust(9, "0")[:9])


def finish_times(alloc: dict[str, Any]) -> dict[str, int | None]:
    """When an allocation finished, in unix ns, as the emulator recorded it.

    ``task_finished``: the last task's ``FinishedAt`` (the batch itself ending);
    ``alloc_modified``: the allocation's ``ModifyTime`` (its terminal client status written,
    which is what a waiter can observe).
    """
    finished = [
        parse_go_time(state.get("FinishedAt")) for state in (alloc.get("TaskStates") or {}).values()
    ]
    finished_ns = [f for f in finished if f is not None]
    return {
        "task_finished": max(finished_ns) if finished_ns else None,
        "alloc_modified": alloc.get("ModifyTime"),
    }


def final_allocation(allocs: list[dict[str, Any]]) -> dict[str, Any]:
    """The newest allocation of a job's list."""
    return max(allocs, key=lambda a: a.get("CreateIndex", 0))
