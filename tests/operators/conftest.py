"""Fixtures for the operator tests: a Nomad connection to the emulator and a DAG runner."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import nomad
import pendulum
import pytest

LOGICAL_DATE = pendulum.datetime(2026, 11, 24, tz="UTC")


@pytest.fixture
def nomad_conn(nomad_emulator, monkeypatch) -> Any:
    """``nomad_default`` pointing at the emulator (JSON form of AIRFLOW_CONN_*)."""
    address = nomad_emulator.nomad_addr
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOMAD_DEFAULT", json.dumps({"conn_type": "nomad", "host": address})
    )
    return nomad_emulator


@pytest.fixture
def nomad_client(nomad_emulator) -> nomad.Nomad:
    """Unmodified python-nomad pointed at the emulator, to set up and inspect jobs."""
    host, port = nomad_emulator.nomad_addr.removeprefix("http://").rsplit(":", 1)
    return nomad.Nomad(host=host, port=int(port), token=nomad_emulator.token, timeout=30)


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


@pytest.fixture
def dag_runner(airflow_db):
    return run_dag
