"""ConsulHealthSensor inside a real DAG run (``dag.test()``), poke and deferrable."""

from __future__ import annotations

import os

import httpx
import pendulum
import pytest
from consul_testlib import HANG_BOUND, once_a_query_parks

from airflow_provider_nomad.sensors.consul import ConsulHealthSensor

LOGICAL_DATE = pendulum.datetime(2026, 11, 24, tz="UTC")
HEALTH_ROUTE = "GET /v1/health/service/:service"


def _run(dag):
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    return dag.test(logical_date=LOGICAL_DATE, run_after=LOGICAL_DATE)


def _xcom(dag_run, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as db:
        row = (
            db.query(XComModel)
            .filter_by(
                dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key="return_value"
            )
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


@pytest.mark.slow
@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_sensor_gates_a_dag_run(airflow_db, consul_conn, deferrable):
    from airflow.sdk import DAG, task

    dag_id = f"consul_gate_{'deferred' if deferrable else 'poke'}"
    with DAG(dag_id, schedule=None, start_date=LOGICAL_DATE, catchup=False) as dag:
        gate = ConsulHealthSensor(
            task_id="ledger_healthy",
            service="{{ params.service }}",
            tag="{{ params.tag }}",
            min_passing=1,
            poke_interval=30,
            timeout=HANG_BOUND,  # the check turns passing once the sensor waits: never reached
            deferrable=deferrable,
            params={"service": "ledger", "tag": "primary"},
        )

        @task
        def after(addresses: list[str]) -> str:
            return ",".join(addresses)

        after(gate.output)

    with httpx.Client(base_url=consul_conn.addr) as http:
        body = {"Name": "ledger", "ID": "ledger-1", "Port": 9000, "Tags": ["primary"]}
        body |= {"Address": "10.9.0.1", "Check": {"TTL": "60s"}}
        assert http.put("/v1/agent/service/register", json=body).status_code == 200

    def become_healthy() -> None:
        consul_conn.consul.set_check_status("service:ledger-1", "passing", "ok")

    # Healthy only once the sensor (poke) or its trigger (deferrable) waits in a blocking
    # query: it has seen the check critical then, however long the task took to start.
    with once_a_query_parks(consul_conn.consul, become_healthy) as became_healthy:
        dag_run = _run(dag)

    assert became_healthy.is_set(), "the sensor never waited in a blocking query"
    # A first read found the check critical; a later one saw it passing.
    assert consul_conn.request_count(HEALTH_ROUTE) >= 2
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert states == {"ledger_healthy": "success", "after": "success"}
    assert _xcom(dag_run, "ledger_healthy") == ["10.9.0.1:9000"]
    assert _xcom(dag_run, "after") == "10.9.0.1:9000"
