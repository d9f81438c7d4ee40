"""A Consul health check gates a Nomad dispatch: nothing runs while the service is critical."""

from __future__ import annotations

import json

import httpx
import pendulum
import pytest
from airflow.sdk import DAG
from nomad_testlib import HANG_BOUND, act_when_logged, batch_job, children_of

from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator
from airflow_provider_nomad.sensors.consul import ConsulHealthSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@pytest.fixture
def consul(nomad_conn, monkeypatch):
    """``consul_default`` pointing at the emulator, and a ledger service whose check is critical."""
    address = nomad_conn.consul_addr
    monkeypatch.setenv(
        "AIRFLOW_CONN_CONSUL_DEFAULT", json.dumps({"conn_type": "consul", "host": address})
    )
    client = httpx.Client(base_url=address, timeout=10)
    response = client.put(
        "/v1/agent/service/register",
        json={
            "ID": "ledger-db-1",
            "Name": "ledger-db",
            "Address": "10.0.0.5",
            "Port": 5432,
            "Check": {"CheckID": "ledger-ttl", "Name": "ledger alive", "TTL": "1h"},
        },
    )
    response.raise_for_status()
    client.put("/v1/agent/check/fail/ledger-ttl", params={"note": "replica lag 900 s"})
    yield client
    client.close()


def gated_dag(dag_id: str, sensor_timeout: float) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        healthy = ConsulHealthSensor(
            task_id="ledger_healthy",
            service="ledger-db",
            poke_interval=2,
            timeout=sensor_timeout,
            mode="poke",
        )
        settle = NomadDispatchJobOperator(task_id="settle", job_id="settlement")
        healthy >> settle
    return dag


def test_dispatch_waits_for_the_service_to_pass(consul, nomad_client, dag_runner, capfd):
    nomad_client.jobs.register_job({"Job": batch_job("settlement", "print('settled')")})
    dispatched_while_critical: list[int] = []

    def heal() -> None:
        dispatched_while_critical.append(len(children_of(nomad_client, "settlement")))
        consul.put("/v1/agent/check/pass/ledger-ttl", params={"note": "caught up"})

    healed = act_when_logged(capfd, "replica lag 900 s", heal)
    result = dag_runner(gated_dag("gate_heals", sensor_timeout=HANG_BOUND))
    assert healed(), "the sensor never logged why it was waiting"
    output = capfd.readouterr().out

    assert result.state == "success", output[-3000:]
    assert dispatched_while_critical == [0]
    assert len(children_of(nomad_client, "settlement")) == 1
    assert result.xcom("ledger_healthy") == ["10.0.0.5:5432"]


def test_nothing_is_dispatched_while_the_service_stays_critical(
    consul, nomad_client, dag_runner, capfd
):
    nomad_client.jobs.register_job({"Job": batch_job("settlement", "print('settled')")})
    result = dag_runner(gated_dag("gate_stays_critical", sensor_timeout=3))
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert result.task_states == {"ledger_healthy": "failed", "settle": "upstream_failed"}
    assert "replica lag 900 s" in output
    assert children_of(nomad_client, "settlement") == []
