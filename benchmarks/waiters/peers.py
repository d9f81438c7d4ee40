"""Two peers' waiting loops, re-implemented request for request from their released code.

Neither package is installed or vendored: only the HTTP requests each loop sends, in the
order and at the interval it sends them, and the condition on which it stops.

``apache-airflow-providers-nomad`` 0.0.7, ``NomadOperator.execute`` (``observe=True``,
``operator_poll_delay`` 10 s), through python-nomad as it does. Each round reads the job, its
allocations, evaluations and summary, then ``get_children_output``: ``client/fs/cat`` of
``<task>.stdout.0`` and ``<task>.stderr.0`` of every task of every allocation (the whole file,
every time; with no allocation yet it reads the allocation list a second time). The round then
sleeps 10 s *before* looking at the status it read, so the loop ends one full interval after
the round that saw the job dead, and three more reads (allocations, evaluations, summary)
follow. ``remove_job_if_hanging`` sends nothing for a placed batch (it only acts on a job
pending for more than ``alloc_pending_timeout``, 600 s).

``airflow-nomad`` 0.2.1, the ``check-job`` step: an airflow-ha ``HighAvailabilityOperator``
poking every 5 s (``check_interval``), each poke running ``nomad job status -json <job>``,
i.e. the Nomad CLI's ``JobIDByPrefix`` then ``createJsonJobsOutput``: GET ``/v1/jobs?prefix=``,
``/v1/job/:id``, ``/summary``, ``/allocations``, ``/deployment`` (latest deployment) and
``/evaluations``. With ``forward_logs`` on (needed to see the batch's output in the task log, as
the provider does), each stream of each task of the newest job version's allocations is read
with ``client/fs/ls`` of ``alloc/logs`` plus one ``client/fs/readat`` per rotated file holding
new bytes; the final poke repeats that up to 16 times per stream while 64 KiB chunks come
back full. The poke that finds the job complete ends the wait. Here the CLI's process start per
poke (and per log read) is not re-created: only its HTTP requests, which flatters this peer.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import nomad
import requests
from nomad.api.exceptions import BaseNomadException

from benchmarks.waiters.kinds import AIRFLOW_NOMAD_021, NOMAD_007


class _Counted:
    """Counts the HTTP requests a waiter sends, by method and path template."""

    def __init__(self) -> None:
        self.count = 0
        self.by_route: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, route: str) -> None:
        with self._lock:
            self.count += 1
            self.by_route[route] = self.by_route.get(route, 0) + 1


def _route(method: str, path: str) -> str:
    parts = path.split("/")
    # /v1/job/<id>/<what>, /v1/client/fs/<op>/<alloc>: name the template, not the IDs.
    if len(parts) >= 4 and parts[2] == "job":
        rest = "/".join(parts[4:])
        return f"{method} /v1/job/:job_id" + (f"/{rest}" if rest else "")
    if len(parts) >= 5 and parts[2] == "client" and parts[3] == "fs":
        return f"{method} /v1/client/fs/{parts[4]}/:alloc_id"
    return f"{method} {path}"


class NomadProvider007Waiter:
    """``apache-airflow-providers-nomad`` 0.0.7's observe loop (see the module docstring).

    :param nomad_addr: the Nomad address.
    :param job_id: the job to wait for.
    :param interval_scale: multiplies the 10 s poll delay (1 except in the smoke run).
    """

    POLL_DELAY = 10.0

    def __init__(self, nomad_addr: str, job_id: str, interval_scale: float = 1.0) -> None:
        self.job_id = job_id
        self.poll_delay = self.POLL_DELAY * interval_scale
        self.requests = _Counted()
        self.rounds = 0
        session = requests.Session()
        session.hooks["response"].append(self._count)
        url = urlsplit(nomad_addr)
        # The peer's client as its default configuration builds it (plain HTTP, agent_verify
        # unset), with a counting session.
        self.nomad = nomad.Nomad(
            host=url.hostname, port=url.port, session=session, timeout=30, verify=False
        )
        self._stop = threading.Event()

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        path = urlsplit(response.request.url or "").path
        self.requests.add(_route(response.request.method or "GET", path))

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # The peer's catch_nomad_exception: errors are logged and read as "no data".
        try:
            return fn(*args, **kwargs)
        except BaseNomadException:
            return None

    def _allocations(self) -> list[dict[str, Any]] | None:
        return self._call(self.nomad.job.get_allocations, self.job_id) or None

    def _children_output(self, allocs: list[dict[str, Any]] | None) -> str:
        if not allocs and not (allocs := self._allocations()):
            return ""
        logs = ""
        for alloc in allocs:
            for task in alloc.get("TaskStates") or {}:
                cat = self.nomad.client.cat.read_file
                logs += self._call(cat, alloc["ID"], path=f"alloc/logs/{task}.stdout.0") or ""
                logs += self._call(cat, alloc["ID"], path=f"alloc/logs/{task}.stderr.0") or ""
        return logs

    @staticmethod
    def _all_done(summary: dict[str, Any] | None) -> bool:
        if not summary:
            return False
        for group in (summary.get("Summary") or {}).values():
            if not (
                (group["Failed"] > 0 or group["Lost"] > 0 or group["Complete"] > 0)
                and group["Queued"] == 0
                and group["Running"] == 0
                and group["Starting"] == 0
                and group.get("Unknown", 0) == 0
            ):
                return False
        return True

    def wait(self, max_rounds: int = 10_000) -> dict[str, Any]:
        status: str | None = "pending"
        all_done = False
        while status != "dead" and not all_done:
            if self.rounds >= max_rounds:
                return {"result": f"gave up after {max_rounds} rounds"}
            self.rounds += 1
            job = self._call(self.nomad.job.get_job, self.job_id)
            allocs = self._allocations()
            self._call(self.nomad.job.get_evaluations, self.job_id)
            summary = self._call(self.nomad.job.get_summary, self.job_id)
            self._children_output(allocs)
            self._stop.wait(self.poll_delay)  # the peer's time.sleep(operator_poll_delay)
            status = job.get("Status") if job else None
            all_done = self._all_done(summary)
        final_allocs = self._allocations()
        self._call(self.nomad.job.get_evaluations, self.job_id)
        self._call(self.nomad.job.get_summary, self.job_id)
        statuses = [a.get("ClientStatus") for a in final_allocs or []]
        return {"result": "succeeded" if statuses == ["complete"] else f"allocs {statuses}"}


class AirflowNomad021Waiter:
    """``airflow-nomad`` 0.2.1's ``check-job`` poke loop (see the module docstring).

    :param nomad_addr: the Nomad address.
    :param job_id: the job to wait for.
    :param interval_scale: multiplies the 5 s poke interval (1 except in the smoke run).
    :param forward_logs: the peer's ``forward_logs`` setting.
    :param log_chunk_size: the peer's ``log_chunk_size`` (64 KiB by default).
    """

    CHECK_INTERVAL = 5.0

    def __init__(
        self,
        nomad_addr: str,
        job_id: str,
        interval_scale: float = 1.0,
        forward_logs: bool = True,
        log_chunk_size: int = 65536,
    ) -> None:
        self.job_id = job_id
        self.interval = self.CHECK_INTERVAL * interval_scale
        self.forward_logs = forward_logs
        self.chunk = log_chunk_size
        self.requests = _Counted()
        self.pokes = 0
        self.http = httpx.Client(
            base_url=nomad_addr, timeout=30, event_hooks={"request": [self._count]}
        )
        self._offsets: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()

    def _count(self, request: httpx.Request) -> None:
        self.requests.add(_route(request.method, request.url.path))

    def _get(self, url: str, **params: Any) -> Any:
        response = self.http.get(url, params=params or None)
        if url.endswith("/deployment") and response.status_code in (404, 501):
            # Nomad answers `null` for a batch job (no deployments); the emulator does not
            # serve this route, but it counts the request all the same.
            return None
        response.raise_for_status()
        return response.json()

    def _job_status(self) -> dict[str, Any]:
        """The requests of ``nomad job status -json <job>``."""
        self._get("/v1/jobs", prefix=self.job_id)
        job_path = f"/v1/job/{self.job_id}"
        self._get(job_path)
        summary = self._get(f"{job_path}/summary")
        allocs = self._get(f"{job_path}/allocations")
        self._get(f"{job_path}/deployment")
        self._get(f"{job_path}/evaluations")
        return {"summary": summary, "allocations": allocs}

    @staticmethod
    def _current(allocs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not allocs:
            return []
        version = max(a.get("JobVersion", 0) for a in allocs)
        return [
            a
            for a in allocs
            if a.get("JobVersion", 0) == version and a.get("DesiredStatus") == "run"
        ]

    def _states(self, status: dict[str, Any]) -> tuple[bool, bool, bool]:
        groups = (status["summary"] or {}).get("Summary") or {}
        running = any(g["Queued"] or g["Starting"] or g["Running"] for g in groups.values())
        current = self._current(status["allocations"])
        complete = (
            bool(current) and not running and all(a["ClientStatus"] == "complete" for a in current)
        )
        failed = (
            bool(current)
            and not running
            and any(a["ClientStatus"] in ("failed", "lost") for a in current)
        )
        stopped = bool(status["allocations"]) and all(
            a.get("DesiredStatus") == "stop" for a in status["allocations"]
        )
        return complete, failed, stopped

    def _read_logs(self, alloc_id: str, task: str, stream: str, offsets: dict[str, int]) -> int:
        listing = self._get(f"/v1/client/fs/ls/{alloc_id}", namespace="default", path="alloc/logs")
        prefix = f"{task}.{stream}."
        files = [
            e
            for e in listing or []
            if e["Name"].startswith(prefix) and e["Name"][len(prefix) :].isdigit()
        ]
        limit, got = self.chunk, 0
        for entry in sorted(files, key=lambda e: int(e["Name"][len(prefix) :])):
            name = entry["Name"]
            offset = offsets.get(name, 0)
            if offset > entry["Size"]:
                offset = 0
            size = min(entry["Size"] - offset, limit)
            if size <= 0:
                continue
            response = self.http.get(
                f"/v1/client/fs/readat/{alloc_id}",
                params={
                    "namespace": "default",
                    "path": f"alloc/logs/{name}",
                    "offset": offset,
                    "limit": size,
                },
            )
            response.raise_for_status()
            data = response.content
            offsets[name] = offset + len(data)
            got += len(data)
            limit -= len(data)
            if limit <= 0:
                break
        return got

    def _forward_logs(self, status: dict[str, Any], final: bool) -> None:
        allocs = status["allocations"] or []
        if not allocs:
            return
        version = max(a.get("JobVersion", 0) for a in allocs)
        for alloc in allocs:
            if alloc.get("JobVersion", 0) != version:
                continue
            for task in alloc.get("TaskStates") or {}:
                for stream in ("stdout", "stderr"):
                    key = f"{alloc['ID']}/{task}/{stream}"
                    offsets = self._offsets.setdefault(key, {})
                    for _ in range(16 if final else 1):
                        if self._read_logs(alloc["ID"], task, stream, offsets) < self.chunk:
                            break

    def poke(self) -> bool:
        self.pokes += 1
        status = self._job_status()
        complete, failed, stopped = self._states(status)
        if self.forward_logs:
            self._forward_logs(status, final=complete or stopped or failed)
        if failed:
            raise RuntimeError(f"job {self.job_id} failed")
        return complete or stopped

    def wait(self, max_pokes: int = 10_000) -> dict[str, Any]:
        try:
            while self.pokes < max_pokes:
                if self.poke():
                    return {"result": "succeeded"}
                self._stop.wait(self.interval)  # the sensor's poke_interval
            return {"result": f"gave up after {max_pokes} pokes"}
        finally:
            self.http.close()


def wait_peer(
    kind: str, nomad_addr: str, job_id: str, interval_scale: float, run_for: float
) -> dict[str, Any]:
    """Run one peer's wait; return its outcome with the requests it sent.

    The peers wait without a deadline of their own; here each gets enough rounds for the
    batch plus a few intervals, so an emulator that died cannot keep one polling forever.
    """
    waiter: NomadProvider007Waiter | AirflowNomad021Waiter
    if kind == NOMAD_007:
        waiter = NomadProvider007Waiter(nomad_addr, job_id, interval_scale)
        interval = waiter.poll_delay
    elif kind == AIRFLOW_NOMAD_021:
        waiter = AirflowNomad021Waiter(nomad_addr, job_id, interval_scale)
        interval = waiter.interval
    else:
        raise ValueError(kind)
    rounds = int(run_for / interval) + 10
    started = time.time()
    outcome = waiter.wait(rounds)
    outcome["client_requests"] = waiter.requests.count
    outcome["client_requests_by_route"] = dict(waiter.requests.by_route)
    outcome["waiter_started"] = started
    return outcome
