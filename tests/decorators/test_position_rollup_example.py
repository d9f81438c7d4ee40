"""The position_rollup example DAG, run with ``dag.test()`` against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

from airflow_provider_nomad.testing import Emulator

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"


@pytest.fixture
def offline_airflow(
    airflow_db: Path, nomad_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> Emulator:
    """Airflow that reads the example DAGs (as a DAG bundle) and talks to the emulator."""
    monkeypatch.setenv(
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
        json.dumps(
            [
                {
                    "name": "example-dags",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(EXAMPLES)},
                }
            ]
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOMAD_DEFAULT",
        json.dumps({"conn_type": "nomad", "host": nomad_emulator.nomad_addr}),
    )
    return nomad_emulator


def _xcom(run, task_id: str, key: str = "return_value"):
    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(
                run_id=run.run_id, key=key, dag_ids="position_rollup", task_ids=task_id
            )
        ).one()
        return XComModel.deserialize_value(row)


def test_position_rollup_extracts_on_nomad_and_rolls_up_in_python_on_nomad(
    offline_airflow: Emulator, capfd
) -> None:
    dag = DagBag(dag_folder=str(EXAMPLES)).dags["position_rollup"]
    run = dag.test(run_conf={"business_date": "2026-11-24", "accounts": "1000-1004"})
    output = capfd.readouterr().out
    assert run.state == "success", output[-3000:]

    extract = _xcom(run, "extract_positions")["result"]
    rollup = _xcom(run, "rollup_positions")
    assert extract["business_date"] == rollup["business_date"] == "2026-11-24"
    assert {p["account"] for p in extract["positions"]} <= set(range(1000, 1005))
    # The roll-up, computed on Nomad, agrees with the extract it was given.
    close = extract["close_jpy"]
    expected = sum(p["quantity"] * close[p["instrument"]] for p in extract["positions"])
    assert rollup["total_value_jpy"] == expected > 0
    assert _xcom(run, "report") == expected

    with httpx.Client(base_url=offline_airflow.nomad_addr) as nomad:
        [extract_job] = nomad.get("/v1/jobs", params={"prefix": "position-extract-af-"}).json()
        meta = nomad.get(f"/v1/job/{extract_job['ID']}").json()["Meta"]
        assert meta["business_date"] == "2026-11-24" and meta["accounts"] == "1000-1004"
        rollup_jobs = nomad.get(
            "/v1/jobs", params={"prefix": "airflow-position_rollup-rollup_positions-af-"}
        ).json()
        assert len(rollup_jobs) == 1
