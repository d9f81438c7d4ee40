"""NomadRegisterJobOperator and NomadStopJobOperator."""

from __future__ import annotations

import json
import textwrap

import pendulum
from airflow.sdk import DAG
from nomad_testlib import batch_job

from airflow_provider_nomad.operators.nomad import (
    NomadRegisterJobOperator,
    NomadStopJobOperator,
)

START = pendulum.datetime(2026, 1, 1, tz="UTC")

JOBSPEC = textwrap.dedent(
    """
    job "report" {
      type        = "batch"
      datacenters = ["dc1"]
      parameterized {
        payload       = "forbidden"
        meta_required = ["business_date"]
      }
      group "report" {
        task "main" {
          driver = "mock_driver"
          config {
            run_for = "10ms"
          }
        }
      }
    }
    """
)


def test_register_from_hcl_file_then_again_unchanged(
    nomad_conn, nomad_client, dag_runner, tmp_path
):
    spec = tmp_path / "report.nomad.hcl"
    spec.write_text(JOBSPEC)

    def register() -> dict:
        with DAG("register", schedule=None, start_date=START, catchup=False) as dag:
            NomadRegisterJobOperator(task_id="register", job=str(spec))
        result = dag_runner(dag)
        assert result.state == "success"
        return result.xcom("register")

    first = register()
    job = nomad_client.job.get_job("report")
    assert job["ParameterizedJob"]["MetaRequired"] == ["business_date"]
    second = register()
    assert first["job_id"] == second["job_id"] == "report"
    assert nomad_client.job.get_job("report")["Version"] == job["Version"]


def test_register_from_dict_and_json_file(nomad_conn, nomad_client, dag_runner, tmp_path):
    spec = tmp_path / "other.json"
    spec.write_text(json.dumps({"Job": batch_job("other", "print(1)")}))
    with DAG("register_json", schedule=None, start_date=START, catchup=False) as dag:
        NomadRegisterJobOperator(task_id="from_dict", job=batch_job("one", "print(1)"))
        NomadRegisterJobOperator(task_id="from_file", job=str(spec))
    assert dag_runner(dag).state == "success"
    assert {j["ID"] for j in nomad_client.jobs.get_jobs()} >= {"one", "other"}


def test_stop_and_purge(nomad_conn, nomad_client, dag_runner):
    nomad_client.jobs.register_job(
        {"Job": batch_job("longrun", "import time; time.sleep(600)", parameterized=False)}
    )
    with DAG("stop", schedule=None, start_date=START, catchup=False) as dag:
        NomadStopJobOperator(task_id="stop", job_id="longrun", purge=True)
    assert dag_runner(dag).state == "success"
    assert "longrun" not in {j["ID"] for j in nomad_client.jobs.get_jobs()}
