"""Three peers' waiting loops, re-implemented request for request from their released code.

No peer package is installed or vendored: only the HTTP requests each loop sends (and, for
airflow-nomad, the processes it starts), in the order and at the interval it sends them, the
log lines it emits, and the condition on which it stops. Each waiter counts the log lines it
emits that carry the batch's output (:class:`EmittedLines`), to compare with the lines the
batch printed.

``apache-airflow-providers-nomad`` 0.0.7, ``NomadOperator.execute`` (``observe=True``,
``operator_poll_delay`` 10 s), through python-nomad as it does. Each round reads the job, its
allocations, evaluations and summary, then ``get_children_output``: ``client/fs/cat`` of
``<task>.stdout.0`` and ``<task>.stderr.0`` of every task of every allocation (the whole file,
every time; with no allocation yet it reads the allocation list a second time), and logs
*every line of both files again* (``self.log.info("[job: %s][alloc: %s] %s", ...)``), so a
batch's early lines are logged once per round. The round then sleeps 10 s *before* looking at
the status it read, so the loop ends one full interval after the round that saw the job dead,
and three more reads (allocations, evaluations, summary) follow. ``remove_job_if_hanging``
sends nothing for a placed batch (it only acts on a job pending for more than
``alloc_pending_timeout``, 600 s).

``airflow-nomad`` 0.2.1, the ``check-job`` step: an airflow-ha ``HighAvailabilityOperator``
poking every 5 s (``check_interval``). Each poke runs nomad-pydantic's ``NomadClient.status()``,
i.e. a ``nomad job status -json <job>`` *process* (six reads: ``JobIDByPrefix`` then the job,
summary, allocations, latest deployment and evaluations). With ``forward_logs`` on (off by
default; without it the batch's output never reaches Airflow), each stream of each task of the
newest job version's allocations is read by ``read_logs``: one ``nomad operator api`` process
for ``client/fs/ls`` of ``alloc/logs`` plus one per rotated file holding new bytes
(``client/fs/readat``), each chunk's lines logged as they split (a line cut by a chunk's end
is logged as two); the final poke repeats that up to 16 times per stream while 64 KiB chunks
come back full. The poke that finds the job complete ends the wait. The CLI processes run the
stand-in of :mod:`benchmarks.waiters.nomad_cli` (same requests, a Python start instead of a Go
binary's). The XCom push each poke makes (the ``return_value`` ``(Result, Action)``; with
``forward_logs``, the offsets' ``xcom_pull`` and ``xcom_push`` too) needs a task: claim 1b runs
this poke loop with airflow-nomad's defaults as airflow-nomad runs it, a sensor task in a real
Airflow that pushes to it (:mod:`benchmarks.waiters.airflow_nomad_task`); here, outside
Airflow, nothing is pushed.

``prefect-nomad`` 0.2.0, ``NomadWorker.run`` after registering the job: python-nomad, as it
uses it. ``_wait_for_evaluation`` reads the evaluation every ``poll_interval`` (1 s) until it is
complete; ``_wait_for_job_completion`` then reads the job's allocations every second and, while
the first one runs (``stream_output`` on by default), its stdout from the last offset with
``client/fs/logs`` (``plain=true``, ``follow=false``), ``print``-ing each line to the worker's
own stdout (not to the flow run's logs); once the allocation is terminal it reads stdout a last
time and returns. stderr is never read.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import nomad
import requests
from nomad.api.exceptions import BaseNomadException

from benchmarks.jobs import BATCH_LINE, TASK
from benchmarks.waiters.kinds import (
    AIRFLOW_NOMAD_021,
    AIRFLOW_NOMAD_021_LOGS,
    NOMAD_007,
    PREFECT_NOMAD_020,
)

#: What every line the batches print contains.
MARKER = BATCH_LINE.strip()


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


class EmittedLines(logging.Handler):
    """Counts the log records that carry a line of the batch's output."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if MARKER in record.getMessage():
            self.count += 1


def task_logger(name: str) -> tuple[logging.Logger, EmittedLines]:
    """A logger of its own for one wait (the peer's task log), and its line counter."""
    log = logging.getLogger(f"benchmarks.peer.{name}")
    log.handlers.clear()
    log.propagate = False
    log.setLevel(logging.INFO)
    counter = EmittedLines()
    log.addHandler(counter)
    return log, counter


def _route(method: str, path: str) -> str:
    parts = path.split("/")
    # /v1/job/<id>/<what>, /v1/client/fs/<op>/<alloc>: name the template, not the IDs.
    if len(parts) >= 4 and parts[2] == "job":
        rest = "/".join(parts[4:])
        return f"{method} /v1/job/:job_id" + (f"/{rest}" if rest else "")
    if len(parts) >= 5 and parts[2] == "client" and parts[3] == "fs":
        return f"{method} /v1/client/fs/{parts[4]}/:alloc_id"
    if len(parts) >= 4 and parts[2] == "evaluation":
        return f"{method} /v1/evaluation/:eval_id"
    return f"{method} {path}"


def _python_nomad(nomad_addr: str, counted: _Counted) -> nomad.Nomad:
    """python-nomad as the peers build it by default (plain HTTP, ``verify`` unset), with a
    session that counts every request."""

    def count(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        path = urlsplit(response.request.url or "").path
        counted.add(_route(response.request.method or "GET", path))

    session = requests.Session()
    session.hooks["response"].append(count)
    url = urlsplit(nomad_addr)
    return nomad.Nomad(host=url.hostname, port=url.port, session=session, timeout=30, verify=False)


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
        self.nomad = _python_nomad(nomad_addr, self.requests)
        self.log, self.emitted = task_logger(job_id)
        self._stop = threading.Event()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # The peer's catch_nomad_exception: errors are logged and read as "no data".
        try:
            return fn(*args, **kwargs)
        except BaseNomadException:
            return None

    def _allocations(self) -> list[dict[str, Any]] | None:
        return self._call(self.nomad.job.get_allocations, self.job_id) or None

    def _children_output(self, allocs: list[dict[str, Any]] | None) -> None:
        if not allocs and not (allocs := self._allocations()):
            return
        cat = self.nomad.client.cat.read_file
        for alloc in allocs:
            for task in alloc.get("TaskStates") or {}:
                logs = self._call(cat, alloc["ID"], path=f"alloc/logs/{task}.stdout.0") or ""
                logs += self._call(cat, alloc["ID"], path=f"alloc/logs/{task}.stderr.0") or ""
                for line in logs.splitlines():
                    self.log.info("[job: %s][alloc: %s] %s", self.job_id, alloc["ID"], line)

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


class NomadCliError(RuntimeError):
    """A ``nomad`` process exited non-zero (nomad-pydantic's ``NomadCommandError``)."""


class AirflowNomad021Waiter:
    """``airflow-nomad`` 0.2.1's ``check-job`` poke loop (see the module docstring).

    :param nomad_addr: the Nomad address.
    :param job_id: the job to wait for.
    :param cli: the ``nomad`` executable (the stand-in of :mod:`benchmarks.waiters.nomad_cli`).
    :param interval_scale: multiplies the 5 s poke interval (1 except in the smoke run).
    :param forward_logs: the peer's ``forward_logs`` setting (off by default).
    :param log_chunk_size: the peer's ``log_chunk_size`` (64 KiB by default).
    """

    CHECK_INTERVAL = 5.0
    COMMAND_TIMEOUT = 60.0

    def __init__(
        self,
        nomad_addr: str,
        job_id: str,
        cli: Path,
        interval_scale: float = 1.0,
        forward_logs: bool = False,
        log_chunk_size: int = 65536,
    ) -> None:
        self.job_id = job_id
        self.cli = str(cli)
        self.interval = self.CHECK_INTERVAL * interval_scale
        self.forward_logs = forward_logs
        self.chunk = log_chunk_size
        self.requests = _Counted()
        self.pokes = 0
        self.processes = 0
        self.env = {**os.environ, "NOMAD_ADDR": nomad_addr}
        self.log, self.emitted = task_logger(job_id)
        self._offsets: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()

    def _run(self, *args: str) -> bytes:
        """One ``nomad`` process, as nomad-pydantic's ``SubprocessCommandRunner`` starts it."""
        done = subprocess.run(
            [self.cli, *args],
            capture_output=True,
            check=False,
            timeout=self.COMMAND_TIMEOUT,
            env=self.env,
        )
        self.processes += 1
        for line in done.stderr.decode(errors="replace").splitlines():
            if line.startswith("@@request "):
                method, path = line.split()[1:3]
                self.requests.add(_route(method, path))
        if done.returncode:
            raise NomadCliError(f"nomad {' '.join(args)} failed: {done.stderr[-500:]!r}")
        return done.stdout

    def _status(self) -> dict[str, Any]:
        """``nomad job status -json <job>``: summary, allocations, deployment, evaluations."""
        return json.loads(self._run("job", "status", "-json", self.job_id))[0]

    def _read_logs(self, alloc_id: str, stream: str, offsets: dict[str, int]) -> list[Any]:
        """nomad-pydantic's ``read_logs``: ``(file, offset, data)`` chunks, oldest file first."""
        query = {"namespace": "default", "path": "alloc/logs"}
        allocation = quote(alloc_id, safe="")
        listing = json.loads(
            self._run("operator", "api", f"/v1/client/fs/ls/{allocation}?{urlencode(query)}")
        )
        prefix = f"{TASK}.{stream}."
        files = [
            e
            for e in listing or []
            if e["Name"].startswith(prefix) and e["Name"][len(prefix) :].isdigit()
        ]
        limit, chunks = self.chunk, []
        for entry in sorted(files, key=lambda e: int(e["Name"][len(prefix) :])):
            name = entry["Name"]
            offset = offsets.get(name, 0)
            if offset > entry["Size"]:
                offset = 0
            size = min(entry["Size"] - offset, limit)
            if size <= 0:
                continue
            params = {**query, "path": f"alloc/logs/{name}", "offset": offset, "limit": size}
            data = self._run(
                "operator", "api", f"/v1/client/fs/readat/{allocation}?{urlencode(params)}"
            )
            chunks.append((name, offset, data))
            limit -= len(data)
            if limit <= 0:
                break
        return chunks

    def _forward(self, status: dict[str, Any], final: bool) -> None:
        allocs = status["Allocations"] or []
        if not allocs:
            return
        version = max(a.get("JobVersion", 0) for a in allocs)
        for alloc in allocs:
            if alloc.get("JobVersion", 0) != version:
                continue
            for stream in ("stdout", "stderr"):
                offsets = self._offsets.setdefault(f"{alloc['ID']}/{TASK}/{stream}", {})
                for _ in range(16 if final else 1):
                    chunks = self._read_logs(alloc["ID"], stream, offsets)
                    for name, offset, data in chunks:
                        for line in data.decode("utf-8", errors="replace").splitlines():
                            self.log.info("[nomad %s/%s %s] %s", alloc["ID"], TASK, stream, line)
                        offsets[name] = offset + len(data)
                    if sum(len(data) for _, _, data in chunks) < self.chunk:
                        break

    @staticmethod
    def _states(status: dict[str, Any]) -> tuple[bool, bool, bool]:
        """nomad-pydantic's ``JobStatus.complete``, ``.failed`` and ``.stopped``."""
        groups = (status["Summary"] or {}).get("Summary") or {}
        running = any(g["Queued"] or g["Starting"] or g["Running"] for g in groups.values())
        allocs = status["Allocations"] or []
        version = max((a.get("JobVersion", 0) for a in allocs), default=0)
        current = [
            a for a in allocs if a.get("JobVersion", 0) == version and a["DesiredStatus"] == "run"
        ]
        complete = (
            bool(current) and not running and all(a["ClientStatus"] == "complete" for a in current)
        )
        failed = (
            bool(current)
            and not running
            and any(a["ClientStatus"] in ("failed", "lost") for a in current)
        )
        stopped = bool(allocs) and all(a["DesiredStatus"] == "stop" for a in allocs)
        return complete, failed, stopped

    def poke(self) -> bool:
        self.pokes += 1
        status = self._status()
        complete, failed, stopped = self._states(status)
        if self.forward_logs:
            self._forward(status, final=complete or stopped or failed)
        if failed:
            raise RuntimeError(f"job {self.job_id} failed")
        return complete or stopped

    def wait(self, max_pokes: int = 10_000) -> dict[str, Any]:
        while self.pokes < max_pokes:
            if self.poke():
                return {"result": "succeeded"}
            self._stop.wait(self.interval)  # the sensor's poke_interval
        return {"result": f"gave up after {max_pokes} pokes"}


class PrefectNomad020Waiter:
    """``prefect-nomad`` 0.2.0's evaluation and allocation polls (see the module docstring).

    :param nomad_addr: the Nomad address.
    :param job_id: the job to wait for.
    :param eval_id: the evaluation its registration (here: dispatch) returned.
    :param interval_scale: multiplies the 1 s ``poll_interval`` (1 except in the smoke run).
    """

    POLL_INTERVAL = 1.0

    def __init__(
        self, nomad_addr: str, job_id: str, eval_id: str, interval_scale: float = 1.0
    ) -> None:
        self.job_id = job_id
        self.eval_id = eval_id
        self.interval = self.POLL_INTERVAL * interval_scale
        self.requests = _Counted()
        self.polls = 0
        self.nomad = _python_nomad(nomad_addr, self.requests)
        self.printed = 0  # lines print()-ed to the worker's stdout
        self._stop = threading.Event()

    def _print(self, line: str) -> None:
        if MARKER in line:
            self.printed += 1

    def _stream(self, alloc_id: str, offset: int) -> int:
        try:
            stdout = self.nomad.client.stream_logs.stream(
                id_=alloc_id, task=TASK, type_="stdout", plain=True, offset=offset, origin="start"
            )
            if stdout:
                for line in stdout.splitlines():
                    if line:
                        self._print(line)
                return offset + len(stdout.encode("utf-8"))
        except Exception:  # the peer's best-effort streaming: errors are swallowed
            pass
        return offset

    def _wait_for_evaluation(self, max_polls: int) -> None:
        while self.polls < max_polls:
            self.polls += 1
            try:
                evaluation = self.nomad.evaluation.get_evaluation(self.eval_id)
            except BaseNomadException:
                self._stop.wait(self.interval)
                continue
            status = evaluation.get("Status", "pending")
            if status == "complete":
                if evaluation.get("FailedTGAllocs"):
                    raise RuntimeError(f"{self.job_id} failed to schedule")
                return
            if status in ("failed", "canceled"):
                raise RuntimeError(f"evaluation {self.eval_id} {status}")
            if evaluation.get("NextEval"):
                self.eval_id = evaluation["NextEval"]
                continue
            self._stop.wait(self.interval)

    def wait(self, max_polls: int = 10_000) -> dict[str, Any]:
        self._wait_for_evaluation(max_polls)
        offset = 0
        while self.polls < max_polls:
            self.polls += 1
            try:
                allocations = self.nomad.job.get_allocations(self.job_id)
            except BaseNomadException:
                self._stop.wait(self.interval)
                continue
            if not allocations:
                self._stop.wait(self.interval)
                continue
            alloc = allocations[0]
            status = alloc.get("ClientStatus", "pending")
            if status == "running":
                offset = self._stream(alloc["ID"], offset)
            if status in ("complete", "failed", "lost"):
                self._stream(alloc["ID"], offset)
                return {"result": "succeeded" if status == "complete" else f"alloc {status}"}
            self._stop.wait(self.interval)
        return {"result": f"gave up after {max_polls} polls"}


PEERS = (NOMAD_007, AIRFLOW_NOMAD_021, AIRFLOW_NOMAD_021_LOGS, PREFECT_NOMAD_020)


def wait_peer(
    kind: str,
    nomad_addr: str,
    job_id: str,
    eval_id: str,
    interval_scale: float,
    run_for: float,
    cli: Path | None = None,
) -> dict[str, Any]:
    """Run one peer's wait; return its outcome with the requests it sent and the batch lines
    it emitted.

    The peers wait without a deadline of their own; here each gets enough rounds for the
    batch plus a few intervals, so an emulator that died cannot keep one polling forever.
    """
    waiter: NomadProvider007Waiter | AirflowNomad021Waiter | PrefectNomad020Waiter
    if kind == NOMAD_007:
        waiter = NomadProvider007Waiter(nomad_addr, job_id, interval_scale)
        interval = waiter.poll_delay
    elif kind in (AIRFLOW_NOMAD_021, AIRFLOW_NOMAD_021_LOGS):
        if cli is None:
            raise ValueError("airflow-nomad needs the nomad CLI stand-in")
        waiter = AirflowNomad021Waiter(
            nomad_addr, job_id, cli, interval_scale, forward_logs=kind == AIRFLOW_NOMAD_021_LOGS
        )
        interval = waiter.interval
    elif kind == PREFECT_NOMAD_020:
        waiter = PrefectNomad020Waiter(nomad_addr, job_id, eval_id, interval_scale)
        interval = waiter.interval
    else:
        raise ValueError(kind)
    rounds = int(run_for / interval) + 10
    started = time.time()
    outcome = waiter.wait(rounds)
    outcome["client_requests"] = waiter.requests.count
    outcome["client_requests_by_route"] = dict(waiter.requests.by_route)
    outcome["waiter_started"] = started
    if isinstance(waiter, PrefectNomad020Waiter):
        outcome["log_lines"] = waiter.printed
        outcome["polls"] = waiter.polls
    else:
        outcome["log_lines"] = waiter.emitted.count
        outcome["polls"] = waiter.rounds if isinstance(waiter, NomadProvider007Waiter) else 0
    if isinstance(waiter, AirflowNomad021Waiter):
        outcome["polls"] = waiter.pokes
        outcome["cli_processes"] = waiter.processes
    return outcome
