"""The desk P&L DAG, run in-process with ``dag.test()`` against the emulator's pytest fixture.

This is also the recipe the README gives DAG authors for testing their own DAGs offline: the
``nomad_emulator`` fixture, a connection in ``AIRFLOW_CONN_NOMAD_DEFAULT``, ``dag.test()``.
"""

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
    """Airflow that reads the example DAGs and talks to the emulator."""
    # dag.test() runs a DAG the way the scheduler does: from a DAG bundle holding its file.
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


def test_desk_pnl_maps_one_dispatch_per_desk(offline_airflow: Emulator) -> None:
    dag = DagBag(dag_folder=str(EXAMPLES)).dags["desk_pnl"]
    run = dag.test(run_conf={"business_date": "2026-11-24", "desks": ["delta-one", "prop-trading"]})

    assert run.state == "success"
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert states[("desk_pnl", 0)] == states[("desk_pnl", 1)] == "success"
    assert states[("wait_for_snapshot", -1)] == "success"
    assert states[("purge_snapshot_job", -1)] == "success"
    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(
                run_id=run.run_id, key="return_value", dag_ids="desk_pnl", task_ids="summarize"
            )
        ).one()
        by_desk = XComModel.deserialize_value(row)
    # The batch marks each desk's book to market with deterministic prices.
    assert by_desk == {"delta-one": -7_093_000, "prop-trading": -4_841_500}

    with httpx.Client(base_url=offline_airflow.nomad_addr) as nomad:
        children = nomad.get("/v1/jobs", params={"prefix": "desk-pnl/dispatch-"}).json()
        metas = [nomad.get(f"/v1/job/{c['ID']}").json()["Meta"] for c in children]
        assert sorted(m["desk"] for m in metas) == ["delta-one", "prop-trading"]
        assert {m["business_date"] for m in metas} == {"2026-11-24"}
        # The teardown purged the snapshot job once the P&L was done.
        assert nomad.get("/v1/job/eod-price-snapshot").status_code == 404
