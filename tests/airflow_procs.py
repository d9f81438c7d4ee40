"""Real Airflow processes for tests: components started as a deployment starts them.

Each component runs as ``python -m airflow <component>`` in its own process group, on the test
session's AIRFLOW_HOME and SQLite database, and is waited for on an event (its health endpoint
answering), never for a guessed time. Stopping kills the whole group, so nothing outlives a test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from airflow_provider_nomad.testing.airflow_deployment import free_port

#: Bound for a component to come up on a slow, loaded machine: a hang, not a step's duration.
START_TIMEOUT = 300.0


@dataclass
class ApiServer:
    """A running ``airflow api-server`` and an admin client of its REST API."""

    base_url: str
    client: httpx.Client
    log_path: Path


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


@contextlib.contextmanager
def api_server(log_dir: Path, env: dict[str, str] | None = None) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free loopback port, every caller an admin.

    :param log_dir: where its output goes (``api-server.log``), for a failing test to show.
    :param env: extra environment on top of the test session's.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        **(env or {}),
    }
    log_path = log_dir / "api-server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--port", str(port)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(f"{base}/api/v2/monitor/health"):
            if proc.poll() is not None:
                raise RuntimeError(f"airflow api-server exited: see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"airflow api-server did not come up: see {log_path}")
            time.sleep(0.2)  # polling a port that is not listening yet: no event to wait on
        token = httpx.get(f"{base}/auth/token", timeout=30).json()["access_token"]
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as client:
            yield ApiServer(base, client, log_path)
    finally:
        _stop(proc)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
