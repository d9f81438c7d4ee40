"""Test-wide set-up: a private AIRFLOW_HOME with a migrated SQLite database.

Airflow reads its configuration when first imported, so the environment is set here, at
collection time, before any test module imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
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
    return _AIRFLOW_HOME
