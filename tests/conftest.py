"""Test-wide set-up: a private AIRFLOW_HOME with a migrated SQLite database.

Airflow reads its configuration when first imported, so the environment is set here, at
collection time, before any test module imports it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
_PRISTINE_DB = _AIRFLOW_HOME / "pristine.db"
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_AIRFLOW_HOME / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(_AIRFLOW_HOME / "logs")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
# Connections and variables from the environment only; never the developer's own.
for name in list(os.environ):
    if name.startswith(("AIRFLOW_CONN_", "NOMAD_", "CONSUL_")) and name not in (
        "NOMAD_ADDR",
        "NOMAD_TOKEN",
        "CONSUL_HTTP_ADDR",
        "CONSUL_HTTP_TOKEN",
    ):
        del os.environ[name]


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite), made once per test session."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    # Kept before any test writes to the database: see pristine_airflow_db.
    with (
        sqlite3.connect(_AIRFLOW_HOME / "airflow.db") as source,
        sqlite3.connect(_PRISTINE_DB) as copy,
    ):
        source.backup(copy)
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def pristine_airflow_db(airflow_db) -> Path:
    """The migrated database as it was before any test of the session wrote to it.

    A deployment of real processes starts from a copy of it: the session's database holds what
    earlier tests left (deferred tasks whose triggers a new triggerer would take up, DAG runs).
    Taken with SQLite's backup API, so pages still in the write-ahead log are in it.
    """
    return _PRISTINE_DB


# -- fixtures shared by the operator, trigger and sensor tests ---------------------------------


@pytest.fixture
def nomad_conn(nomad_emulator, monkeypatch):
    """``nomad_default`` pointing at the emulator (JSON form of AIRFLOW_CONN_*)."""
    import json

    monkeypatch.setenv(
        "AIRFLOW_CONN_NOMAD_DEFAULT",
        json.dumps({"conn_type": "nomad", "host": nomad_emulator.nomad_addr}),
    )
    return nomad_emulator


@pytest.fixture
def nomad_client(nomad_emulator):
    """Unmodified python-nomad pointed at the emulator, to set up and inspect jobs."""
    import nomad

    host, port = nomad_emulator.nomad_addr.removeprefix("http://").rsplit(":", 1)
    return nomad.Nomad(host=host, port=int(port), token=nomad_emulator.token, timeout=30)


@pytest.fixture
def dag_runner(airflow_db):
    from nomad_testlib import run_dag

    return run_dag


@pytest.fixture
def batch_log(capfd):
    """Batch lines that followers wrote to the task log, per stream."""
    from nomad_testlib import BatchLog

    return BatchLog(capfd)
