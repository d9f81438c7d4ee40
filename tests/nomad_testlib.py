"""Helpers shared by the provider's integration tests (jobs, DAG runs, captured batch logs)."""

from __future__ import annotations

import base64
import os
import re
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nomad
import pendulum

NS = 1_000_000_000
#: Seconds after which a wait for something to happen gives up, so that a hung test ends. Only a
#: bound: no step is expected to take anywhere near this, on however loaded a machine.
HANG_BOUND = 300.0
LOGICAL_DATE = pendulum.datetime(2026, 11, 24, tz="UTC")


def batch_job(
    job_id: str,
    script: str,
    *,
    meta_required: tuple[str, ...] = (),
    meta_optional: tuple[str, ...] = (),
    payload: str = "optional",
    parameterized: bool = True,
    restart_attempts: int = 0,
    reschedule_attempts: int = 0,
    memory_mb: int = 64,
    driver: str = "raw_exec",
    config: dict[str, Any] | None = None,
    datacenters: tuple[str, ...] = ("dc1",),
) -> dict[str, Any]:
    """A batch job whose single task runs ``script`` with this Python interpreter."""
    task: dict[str, Any] = {
        "Name": "main",
        "Driver": driver,
        "Config": config
        or {"command": sys.executable, "args": ["-u", "-c", textwrap.dedent(script)]},
        "Resources": {"CPU": 100, "MemoryMB": memory_mb},
        "LogConfig": {"MaxFiles": 3, "MaxFileSizeMB": 1},
        "DispatchPayload": {"File": "payload.json"},
    }
    job: dict[str, Any] = {
        "ID": job_id,
        "Name": job_id,
        "Type": "batch",
        "Datacenters": list(datacenters),
        "TaskGroups": [
            {
                "Name": "batch",
                "Count": 1,
                "RestartPolicy": {
                    "Attempts": restart_attempts,
                    "Interval": 3600 * NS,
                    "Delay": NS // 10,
                    "Mode": "fail",
                },
                "ReschedulePolicy": {
                    "Attempts": reschedule_attempts,
                    "Interval": 3600 * NS,
                    "Delay": NS // 10,
                    "DelayFunction": "constant",
                    "Unlimited": False,
                },
                "Tasks": [task],
            }
        ],
    }
    if parameterized:
        job["ParameterizedJob"] = {
            "Payload": payload,
            "MetaRequired": list(meta_required),
            "MetaOptional": list(meta_optional),
        }
    return job


@dataclass
class RecordingTaskInstance:
    """What an operator's ``execute`` reads of its task instance, and the XComs it pushes."""

    try_number: int
    dag_id: str = "deferred"
    task_id: str = "batch"
    run_id: str = "manual__2026-12-07"
    map_index: int = -1
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


class SectionConf:
    """``conf.get`` of one configuration section, holding ``values``; any other section fails."""

    def __init__(self, section: str, **values: str) -> None:
        self.section = section
        self.values = values

    def get(self, section: str, key: str, fallback: Any = None) -> Any:
        assert section == self.section
        return self.values.get(key, fallback)


def children_of(client: nomad.Nomad, parent: str) -> list[dict]:
    return client.jobs.get_jobs(prefix=f"{parent}/dispatch-")


@dataclass
class DagRunResult:
    state: str
    task_states: dict[str, str]
    run_id: str
    dag_id: str

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, key=key)
                .one_or_none()
            )
            return None if row is None else XComModel.deserialize_value(row)


def sync_dag(dag) -> None:
    """Serialize a DAG defined in a test into the metadata DB, as the DAG processor would."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def run_dag(dag, logical_date=LOGICAL_DATE) -> DagRunResult:
    """Run one DAG run with real Airflow (``dag.test()``) and report its states."""
    sync_dag(dag)
    dag_run = dag.test(logical_date=logical_date, run_after=logical_date)
    return DagRunResult(
        state=str(dag_run.state),
        task_states={ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()},
        run_id=dag_run.run_id,
        dag_id=dag.dag_id,
    )


def dispatch(
    client: nomad.Nomad, job_id: str, meta: dict | None = None, payload: bytes = b""
) -> dict:
    """Dispatch with unmodified python-nomad (which expects the payload already base64)."""
    encoded = base64.b64encode(payload).decode() if payload else None
    return client.job.dispatch_job(job_id, meta=meta or {}, payload=encoded)


def act_when(ready: Callable[[], bool], action: Callable[[], None]) -> Callable[[], bool]:
    """Run ``action`` from a helper thread as soon as ``ready()`` holds.

    ``ready`` is polled: neither captured output nor the emulator's request counters notify.
    Returns ``finish``, which stops the helper (none outlives its test, reading the captured
    output of the next one) and tells whether ``action`` ran.
    """
    stop = threading.Event()
    acted = threading.Event()

    def watch() -> None:
        while not ready():
            if stop.wait(0.05):
                return
        action()
        acted.set()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()

    def finish() -> bool:
        stop.set()
        thread.join(HANG_BOUND)
        return acted.is_set()

    return finish


def act_when_logged(capfd, needle: str, action: Callable[[], None]) -> Callable[[], bool]:
    """Run ``action`` once ``needle`` is in the captured stdout; see :func:`act_when`.

    The capture file is read through a descriptor of its own (``/proc/self/fd/1`` opened anew,
    with its own offset), never with ``capfd.readouterr()``: that one reads the file, then
    truncates it, and a line the running task wrote in between was lost, so the test waited
    for a needle that had been printed. Nothing is consumed: the test reads the whole output
    afterwards as usual. The main thread must not call ``readouterr()`` meanwhile.
    """
    assert capfd is not None  # the capture must be on: fd 1 is then its file
    reader = os.open("/proc/self/fd/1", os.O_RDONLY)
    wanted = needle.encode()
    state = {"position": 0, "tail": b""}

    def logged() -> bool:
        while chunk := os.pread(reader, 1 << 20, state["position"]):
            state["position"] += len(chunk)
            # Only the new bytes, and a needle's length before them, can hold a new match.
            window = state["tail"] + chunk
            if wanted in window:
                return True
            state["tail"] = window[-len(wanted) :]
        return False

    finish = act_when(logged, action)

    def finish_and_close() -> bool:
        try:
            return finish()
        finally:
            os.close(reader)

    return finish_and_close


class BatchLog:
    """The batch lines that followers wrote to the task log, per stream, read from captured output.

    Airflow's task and trigger loggers write through structlog to the process's stdout, so the
    captured file descriptor is what a task log would hold.
    """

    PATTERN = re.compile(
        r"\[info\s*\] \[(?P<task>\S+) (?P<alloc>[0-9a-f]{8}) (?P<stream>stdout|stderr)\] "
        r"(?P<text>.*?)\s+\["
    )

    def __init__(self, capfd) -> None:
        self._capfd = capfd
        self._text = ""

    @property
    def text(self) -> str:
        self._text += self._capfd.readouterr().out
        return self._text

    @property
    def lines(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {"stdout": [], "stderr": []}
        for match in self.PATTERN.finditer(self.text):
            found[match["stream"]].append(match["text"])
        return found


def point_connection_at(emulator, monkeypatch, token: str | None) -> None:
    """Point ``nomad_default`` at ``emulator``, with ``token`` as its ACL token if given."""
    import json

    conn = {"conn_type": "nomad", "host": emulator.nomad_addr}
    if token:
        conn["password"] = token
    monkeypatch.setenv("AIRFLOW_CONN_NOMAD_DEFAULT", json.dumps(conn))


def client_of(emulator, token: str | None) -> nomad.Nomad:
    """A python-nomad client of ``emulator``."""
    host, port = emulator.nomad_addr.removeprefix("http://").rsplit(":", 1)
    return nomad.Nomad(host=host, port=int(port), token=token, timeout=30)
