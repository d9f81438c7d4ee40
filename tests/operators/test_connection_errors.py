"""Connection problems fail the task clearly before anything is dispatched."""

from __future__ import annotations

import json

import nomad
import pendulum
import pytest
from airflow.sdk import DAG
from nomad_testlib import batch_job, children_of

from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@pytest.fixture
def acl_client(nomad_emulator_acl) -> nomad.Nomad:
    host, port = nomad_emulator_acl.nomad_addr.removeprefix("http://").rsplit(":", 1)
    client = nomad.Nomad(host=host, port=int(port), token=nomad_emulator_acl.token, timeout=30)
    client.jobs.register_job({"Job": batch_job("settlement", "print('settled')")})
    return client


def run_with_connection(dag_runner, monkeypatch, dag_id: str, connection: dict):
    monkeypatch.setenv("AIRFLOW_CONN_NOMAD_DEFAULT", json.dumps(connection))
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        NomadDispatchJobOperator(task_id="settle", job_id="settlement")
    return dag_runner(dag)


def test_wrong_token(nomad_emulator_acl, acl_client, dag_runner, monkeypatch, capfd):
    result = run_with_connection(
        dag_runner,
        monkeypatch,
        "wrong_token",
        {"conn_type": "nomad", "host": nomad_emulator_acl.nomad_addr, "password": "not-a-token"},
    )
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "NomadPermissionError" in output and "HTTP 403" in output
    assert "not-a-token" not in output
    assert children_of(acl_client, "settlement") == []


def test_token_without_dispatch_capability(
    nomad_emulator_acl, acl_client, dag_runner, monkeypatch, capfd
):
    reader = nomad_emulator_acl.control.create_token(capabilities=("read-job", "list-jobs"))
    result = run_with_connection(
        dag_runner,
        monkeypatch,
        "read_only_token",
        {"conn_type": "nomad", "host": nomad_emulator_acl.nomad_addr, "password": reader},
    )
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "'dispatch-job' capability" in output
    assert reader not in output
    assert children_of(acl_client, "settlement") == []


def test_wrong_namespace(nomad_emulator_acl, acl_client, dag_runner, monkeypatch, capfd):
    nomad_emulator_acl.control.create_namespace("risk")
    result = run_with_connection(
        dag_runner,
        monkeypatch,
        "wrong_namespace",
        {
            "conn_type": "nomad",
            "host": nomad_emulator_acl.nomad_addr,
            "password": nomad_emulator_acl.token,
            "extra": {"namespace": "risk"},
        },
    )
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "Nomad has no job 'settlement' in namespace 'risk'" in output
    assert children_of(acl_client, "settlement") == []
