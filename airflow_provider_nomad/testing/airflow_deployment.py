"""A real Airflow deployment on this machine, one process per component.

Used by tests about processes dying and by the benchmark that times a task's end through a
real scheduler.

``api-server`` (the REST API), ``execution-api`` (the API task processes talk to), ``scheduler``
(LocalExecutor), ``dag-processor`` and ``triggerer`` run as separate ``python -m airflow``
processes (see :data:`COMMANDS`), each in its own process group, on a private
AIRFLOW_HOME whose SQLite database is a copy of the test session's migrated one. A test kills and
restarts components as an operator (or the kernel) would, drives DAG runs through the REST API
and reads task logs and XComs back from it. Every wait is on an observable state (a REST answer,
a line in a log file) bounded only against hangs; nothing sleeps to let something happen.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

#: Bound for anything a deployment does (start-up, a task's run) on a slow, loaded machine.
HANG_BOUND = 600.0
#: How often a state is asked for again while waiting for it (the REST API cannot block).
POLL = 0.25

COMPONENTS = ("api-server", "execution-api", "scheduler", "dag-processor", "triggerer")
#: The command of each component that is not ``python -m airflow <component>``.
#:
#: The REST API (``core``) and the task execution API run as two ``airflow api-server``
#: processes, as a production deployment may. In one process on SQLite they deadlock: the REST
#: API's write routes log the action in an ``async`` dependency that commits with the sync
#: session on the event loop (``airflow/api_fastapi/logging/decorators.py``), so while a task's
#: execution API write holds SQLite's write lock, the loop waits for the lock, and the lock
#: waits for its session's teardown, which that same blocked loop would schedule. The whole
#: server then hangs until the busy timeout (``testing/sqlite_connect.py``). Apart, the REST
#: API's loop only waits for another process's lock, which that process releases on its own.
COMMANDS = {
    "api-server": ("api-server", "--apps", "core"),
    "execution-api": ("api-server", "--apps", "execution"),
}
_T = TypeVar("_T")


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def migrate_database(home: Path, database: Path) -> Path:
    """Create ``database``, a migrated Airflow metadata database (SQLite), with ``home`` as
    AIRFLOW_HOME for the migration; return its path.

    A :class:`Deployment` copies it, so several deployments can start from one migration.
    """
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_"))},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{database}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_BOUND,
    )
    if done.returncode:
        raise DeploymentError(
            f"airflow db migrate failed ({done.returncode}): {done.stderr[-2000:]}"
        )
    return database


#: Import path of the SQLite connection arguments every component of a deployment uses.
SQLITE_CONNECT_ARGS = "airflow_provider_nomad.testing.sqlite_connect.CONNECT_ARGS"


class DeploymentError(AssertionError):
    """A component failed or a state never came; the message says where its log is."""


class Deployment:
    """The components on one home; ``api`` is an admin client of the REST API.

    :param home: the AIRFLOW_HOME to create (its ``dags/`` folder is the DAGs folder).
    :param database: a migrated SQLite database file to copy (one no test wrote to: a
        leftover deferred task would give the triggerer work of its own).
    :param env: extra environment for every component (connections, provider settings).
    """

    def __init__(self, home: Path, database: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.dags = home / "dags"
        self.logs = home / "logs"
        self.dags.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(database, home / "airflow.db")
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.execution_port = free_port()
        self.execution_url = f"http://127.0.0.1:{self.execution_port}/execution/"
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_HOME"))
        }
        self.env = {
            **inherited,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": self.execution_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            # A longer busy timeout than SQLite's 5 s (see ``testing/sqlite_connect.py``).
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": SQLITE_CONNECT_ARGS,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": SQLITE_CONNECT_ARGS,
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            # Every component must sign and accept the same task tokens.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            **(env or {}),
        }
        self.procs: dict[str, subprocess.Popen] = {}
        self._starts: dict[str, int] = {}
        self.api = httpx.Client(base_url=self.base_url, timeout=60)
        self._writes = threading.Lock()

    # -- components ------------------------------------------------------------------------

    def start(self, component: str) -> None:
        """Start ``component`` (one of :data:`COMPONENTS`); its output goes to a log file."""
        count = self._starts[component] = self._starts.get(component, 0) + 1
        log_path = self.log_path(component, count)
        command = list(COMMANDS.get(component, (component,)))
        if component == "execution-api":
            command += ["--port", str(self.execution_port)]
        with log_path.open("w") as log:
            self.procs[component] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *command],
                env=self.env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if component == "api-server":
            self.wait_for(self._api_ready, "the api-server to answer", component)
        elif component == "execution-api":
            self.wait_for(self._execution_api_ready, "the execution API to answer", component)

    def log_path(self, component: str, start: int | None = None) -> Path:
        return self.home / f"{component}.{start or self._starts.get(component, 1)}.log"

    def kill(self, component: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the component's whole process group and wait until it is gone."""
        proc = self.procs.pop(component)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=HANG_BOUND)
        if sig != signal.SIGKILL:
            # Children the component started (task processes) go with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def __enter__(self) -> Deployment:
        try:
            for component in COMPONENTS:
                self.start(component)
            token = self.api.get("/auth/token").json()["access_token"]
            self.api.headers["Authorization"] = f"Bearer {token}"
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for component in list(self.procs):
            self.kill(component)
        self.api.close()

    def _api_ready(self) -> bool:
        return self._answers("/api/v2/monitor/health")

    def _execution_api_ready(self) -> bool:
        return self._answers(f"{self.execution_url}health")

    def _answers(self, url: str) -> bool:
        try:
            return self.api.get(url).status_code == 200
        except httpx.HTTPError:
            return False

    # -- waiting ---------------------------------------------------------------------------

    def wait_for(
        self, condition: Callable[[], _T], what: str, *watch: str, timeout: float = HANG_BOUND
    ) -> _T:
        """``condition()``'s first truthy value; fails if a watched component dies meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            for component in watch or tuple(self.procs):
                proc = self.procs.get(component)
                if proc is not None and proc.poll() is not None:
                    raise DeploymentError(
                        f"{component} exited ({proc.returncode}) while waiting for {what}: "
                        f"see {self.log_path(component)}"
                    )
            if time.monotonic() > deadline:
                raise DeploymentError(f"gave up waiting for {what} after {timeout:g} s")
            time.sleep(POLL)

    # -- the REST API ----------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        if method == "GET":
            response = self.api.request(method, path, **kwargs)
        else:
            # One write at a time: two writes at once deadlock the REST API's process on SQLite
            # (see ``COMMANDS``; two DAG runs triggered from two threads hung it on their first
            # try). A deployment on Postgres would not need it.
            with self._writes:
                response = self.api.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise DeploymentError(f"{method} {path}: HTTP {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str) -> None:
        def parsed() -> bool:
            return self.api.get(f"/api/v2/dags/{dag_id}").status_code == 200

        self.wait_for(parsed, f"DAG {dag_id} to be parsed")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Start a DAG run now; its run ID."""
        self.wait_for_dag(dag_id)
        run = self._json(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": conf or {}},
        )
        return run["dag_run_id"]

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return self._json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def wait_for_state(
        self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float = HANG_BOUND
    ) -> dict[str, Any]:
        """The task instance once its state is one of ``states``."""

        def reached() -> dict[str, Any] | None:
            ti = self.task_instance(dag_id, run_id, task_id)
            return ti if ti["state"] in states else None

        return self.wait_for(reached, f"{task_id} to be {sorted(states)}", timeout=timeout)

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self._json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")

    def wait_for_run_state(
        self, dag_id: str, run_id: str, states: set[str], timeout: float = HANG_BOUND
    ) -> dict[str, Any]:
        """The DAG run once its state is one of ``states``."""

        def reached() -> dict[str, Any] | None:
            run = self.dag_run(dag_id, run_id)
            return run if run["state"] in states else None

        return self.wait_for(reached, f"DAG run {run_id} to be {sorted(states)}", timeout=timeout)

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Clear one task instance, as the UI's Clear button does.

        Clearing the last task of a run while the scheduler marks that run finished can be
        lost: the scheduler's write of the run's end lands after the clear, and the cleared
        task instance then waits in a finished run that nothing schedules again. Clear a
        finished task once its run has ended (:meth:`wait_for_run_state`), as a person would.
        """
        self._json(
            "POST",
            f"/api/v2/dags/{dag_id}/clearTaskInstances",
            json={
                "dry_run": False,
                "task_ids": [task_id],
                "dag_run_id": run_id,
                "only_failed": False,
                "reset_dag_runs": True,
            },
        )

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The try's log as the UI shows it, as text."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        body = self._json("GET", path, params={"full_content": True})
        lines = []
        for entry in body["content"]:
            lines.append(entry.get("event", "") if isinstance(entry, dict) else str(entry))
        return "\n".join(lines)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any | None:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        response = self.api.get(path, params={"deserialize": True})
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise DeploymentError(f"GET {path}: HTTP {response.status_code}: {response.text}")
        return response.json()["value"]
