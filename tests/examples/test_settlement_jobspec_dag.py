"""A real jobspec's DAG, offline: the settlement jobspec (docker, template, vault, artifact,
HCL2 variables) registered from HCL and dispatched by NomadDispatchJobOperator with dag.test(),
its docker task run by a declared substitution that sees the rendered template."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx
import pendulum
from airflow.sdk import DAG

from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator

JOBSPEC = Path(__file__).parents[1] / "emulator" / "jobspecs" / "settlement.nomad.hcl"

# Stands in for the engine image: prints its args and what the env template rendered.
ENGINE = (
    "import os, sys; print('args', ' '.join(sys.argv[1:])); "
    "print('ledger', os.environ['LEDGER_DB_URL'], os.environ['LEDGER_DB_USER']); "
    "print('desk', os.environ['DESK'])"
)


def test_the_settlement_jobspec_runs_offline_in_a_dag(nomad_conn, dag_runner, capfd):
    control = nomad_conn.control
    control.create_namespace("finance")
    control.substitute(
        driver="docker",
        image="registry.internal.example.com/settlement/engine:*",
        command=[sys.executable, "-c", ENGINE],
        append_args=True,
    )
    control.vault_secret("database/creds/settlement-uat", {"username": "settler", "password": "p"})
    with httpx.Client(base_url=nomad_conn.nomad_addr) as nomad:
        nomad.put(
            "/v1/var/nomad/jobs/settlement",
            params={"namespace": "finance"},
            json={"Items": {"ledger_db_url": "postgres://ledger", "swift_gateway": "swift"}},
        ).raise_for_status()
        parsed = nomad.post(
            "/v1/jobs/parse",
            json={
                "JobHCL": JOBSPEC.read_text(),
                "Canonicalize": True,
                "Variables": 'datacenters = ["dc1"]',
            },
        )
        parsed.raise_for_status()
        nomad.post("/v1/jobs", json={"Job": parsed.json()}).raise_for_status()

    start = pendulum.datetime(2026, 1, 1, tz="UTC")
    with DAG("settlement_offline", schedule=None, start_date=start, catchup=False) as dag:
        NomadDispatchJobOperator(
            task_id="settle",
            job_id="settlement",
            namespace="finance",
            meta={"business_date": "{{ ds }}", "account_range": "A-K"},
            payload={"instructions": []},
        )
    result = dag_runner(dag)
    output = capfd.readouterr().out

    assert result.state == "success", output[-3000:]
    stdout = re.findall(r"\[engine [0-9a-f]{8} stdout\] (.*?)\s+\[", output)
    assert stdout[0].startswith("args settle --business-date 2026-11-24 --accounts A-K --input ")
    assert stdout[1:] == ["ledger postgres://ledger settler", "desk FIXED-INCOME"]
