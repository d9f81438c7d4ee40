"""A job planted under a task instance's child name is never adopted (the connection has an ACL
token, so every dispatch is signed; :mod:`airflow_provider_nomad.nomad.signature`).

The planter holds ``dispatch-job`` on the same parameterized job, as a desk that may start the
batch by hand does. The child names and the unsigned idempotency tokens are computable by
anyone (a hash of the DAG, task and run IDs), so before signing a planted child was adopted:
followed instead of the batch this task would run, or read as its result.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from airflow.models.dagrun import DagRun
from airflow.sdk import DAG
from airflow.utils.types import DagRunType
from nomad_testlib import LOGICAL_DATE, batch_job, children_of

from airflow_provider_nomad.nomad.identity import TaskIdentity
from airflow_provider_nomad.nomad.signature import dispatch_token, signed_meta
from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator

RUN_ID = DagRun.generate_run_id(
    run_type=DagRunType.MANUAL, logical_date=LOGICAL_DATE, run_after=LOGICAL_DATE
)
BUSINESS_DATE = LOGICAL_DATE.to_date_string()
FORGED_DATE = "1999-01-01"


def settlement_batch(ledger: Path, release: Path | None) -> str:
    """Records each run's business date, waits for ``release`` (if any), writes its result."""
    wait = (
        f"while not os.path.exists({str(release)!r}):\n        time.sleep(0.02)" if release else ""
    )
    return f"""
    import json, os, time
    day = os.environ["NOMAD_META_business_date"]
    with open({str(ledger)!r}, "a") as f:
        f.write(day + "\\n")
    print("settling", day, flush=True)
    {wait}
    with open(os.path.join(os.environ["NOMAD_ALLOC_DIR"], "result.json"), "w") as f:
        json.dump({{"settled_for": day}}, f)
    """


class Cluster:
    """The ACL-enabled emulator, the Airflow connection's token, and a planter's token."""

    def __init__(self, emulator, monkeypatch, tmp_path: Path, *, gated: bool) -> None:
        self.emulator = emulator
        self.airflow_token = emulator.token
        self.planter_token = emulator.control.create_token(
            capabilities=("dispatch-job", "read-job", "list-jobs"), name="desk"
        )
        self.ledger = tmp_path / "ledger"
        self.release = tmp_path / "release" if gated else None
        self.http = httpx.Client(base_url=emulator.nomad_addr, timeout=60)
        monkeypatch.setenv(
            "AIRFLOW_CONN_NOMAD_DEFAULT",
            json.dumps(
                {"conn_type": "nomad", "host": emulator.nomad_addr, "password": self.airflow_token}
            ),
        )
        job = batch_job(
            "settlement",
            settlement_batch(self.ledger, self.release),
            meta_required=("business_date",),
        )
        self.put("/v1/jobs", {"Job": job}, self.airflow_token)

    def put(self, path: str, body: dict, token: str, **params) -> dict:
        response = self.http.put(path, json=body, params=params, headers={"X-Nomad-Token": token})
        assert response.status_code == 200, response.text
        return response.json()

    def job(self, job_id: str, **params) -> httpx.Response:
        return self.http.get(
            f"/v1/job/{quote(job_id, safe='')}",
            params=params,
            headers={"X-Nomad-Token": self.airflow_token},
        )

    def plant(self, dag_id: str, *, business_date: str, token: str, named: bool = True) -> str:
        """Dispatch ``settlement`` as the planter would: under the task instance's child name
        (``named``) and with the idempotency ``token``."""
        body: dict = {"Meta": {"business_date": business_date}}
        if named:
            body["IdPrefixTemplate"] = identity(dag_id).id_prefix_template
        reply = self.put(
            "/v1/job/settlement/dispatch", body, self.planter_token, idempotency_token=token
        )
        return reply["DispatchedJobID"]

    def wait_until_dead(self, job_id: str, bound: float = 120) -> None:
        """Follow the job with blocking queries until it is dead (``bound``: a hang)."""
        index, deadline = 0, time.monotonic() + bound
        while time.monotonic() < deadline:
            response = self.job(job_id, index=index, wait="5s")
            if response.json()["Status"] == "dead":
                return
            index = int(response.headers["X-Nomad-Index"])
        raise AssertionError(f"{job_id} did not end within {bound} s")

    def runs(self) -> list[str]:
        return self.ledger.read_text().split() if self.ledger.exists() else []

    def children(self) -> list[str]:
        return [c["ID"] for c in children_of(self.client(), "settlement")]

    def client(self):
        import nomad

        host, port = self.emulator.nomad_addr.removeprefix("http://").rsplit(":", 1)
        return nomad.Nomad(host=host, port=int(port), token=self.airflow_token, timeout=30)


def identity(dag_id: str) -> TaskIdentity:
    return TaskIdentity(dag_id, "settle", RUN_ID)


def settle_dag(dag_id: str, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=LOGICAL_DATE, catchup=False) as dag:
        NomadDispatchJobOperator(
            task_id="settle",
            job_id="settlement",
            meta={"business_date": "{{ ds }}"},
            retry_delay=timedelta(0),
            **kwargs,
        )
    return dag


@pytest.fixture
def gated(nomad_emulator_acl, monkeypatch, tmp_path):
    cluster = Cluster(nomad_emulator_acl, monkeypatch, tmp_path, gated=True)
    yield cluster
    cluster.release.touch()  # lets a planted batch that still waits end
    cluster.http.close()


@pytest.fixture
def ungated(nomad_emulator_acl, monkeypatch, tmp_path):
    cluster = Cluster(nomad_emulator_acl, monkeypatch, tmp_path, gated=False)
    yield cluster
    cluster.http.close()


def assert_refused(output: str, planted: str, cluster: Cluster) -> None:
    assert "NomadForeignChildError" in output, output[-3000:]
    assert planted in output and "did not dispatch" in output
    assert f"Adopting {planted}" not in output
    assert cluster.airflow_token not in output and cluster.planter_token not in output


@pytest.mark.parametrize(
    "signature", ["", "-" + "0" * 20], ids=["predictable token", "made-up signature"]
)
def test_a_planted_running_child_is_refused_and_nothing_is_dispatched_beside_it(
    gated, dag_runner, capfd, signature
):
    dag_id = f"planted_live_{len(signature)}"
    token = identity(dag_id).idempotency_token(1) + signature
    planted = gated.plant(dag_id, business_date=FORGED_DATE, token=token)

    result = dag_runner(settle_dag(dag_id))
    output = capfd.readouterr().out

    assert result.state == "failed"
    assert_refused(output, planted, gated)
    assert gated.children() == [planted]


def test_a_planted_succeeded_child_never_becomes_the_tasks_result(ungated, dag_runner, capfd):
    dag_id = "planted_succeeded"
    planted = ungated.plant(
        dag_id, business_date=FORGED_DATE, token=identity(dag_id).idempotency_token(1)
    )
    ungated.wait_until_dead(planted)

    result = dag_runner(settle_dag(dag_id, result_file="alloc/result.json"))
    output = capfd.readouterr().out

    assert result.state == "failed"
    assert_refused(output, planted, ungated)
    assert FORGED_DATE not in output.replace(f"business_date={FORGED_DATE}", "")
    assert ungated.runs() == [FORGED_DATE]  # the planted run only: nothing dispatched beside it


def test_a_copied_token_on_other_inputs_is_refused_when_nomad_answers_the_dispatch_with_it(
    gated, dag_runner, capfd
):
    # The try's own signed token, as if copied from a child of it since garbage-collected,
    # on another business date and outside the child name: the list finds nothing to adopt,
    # and Nomad answers the try's dispatch with the planted child (same token).
    dag_id = "copied_token"
    parent = gated.job("settlement").json()
    token = dispatch_token(
        identity(dag_id),
        1,
        gated.airflow_token,
        namespace="default",
        parent_id="settlement",
        meta=signed_meta(parent, {"business_date": BUSINESS_DATE}),
        payload=None,
    )
    planted = gated.plant(dag_id, business_date=FORGED_DATE, token=token, named=False)

    result = dag_runner(settle_dag(dag_id))
    output = capfd.readouterr().out

    assert result.state == "failed"
    assert_refused(output, planted, gated)
    assert gated.children() == [planted]


def test_its_own_child_still_verifies_after_the_round_trip_through_nomad(
    ungated, dag_runner, capfd
):
    # A retry reads the result of its own earlier child (result_file): the signature
    # survives Nomad's meta merge and payload compression.
    dag_id = "own_child"
    result = dag_runner(settle_dag(dag_id, result_file="alloc/missing.json", retries=1))
    output = capfd.readouterr().out

    assert result.state == "failed"  # both tries: the file is never there
    [child] = ungated.children()
    assert f"Adopting {child}: an earlier try ran it to success" in output, output[-3000:]
    assert "NomadForeignChildError" not in output
    assert ungated.runs() == [BUSINESS_DATE]  # try 2 adopted try 1's child, never re-ran


@pytest.mark.parametrize("state", ["running", "succeeded"])
def test_beside_a_newer_planted_child_its_own_is_adopted(
    nomad_emulator_acl, monkeypatch, tmp_path, capfd, state
):
    # The try's steps, called directly over real HTTP: its own child of try 1 is older than
    # the planted one, and the newest is what a try looks at first.
    cluster = Cluster(nomad_emulator_acl, monkeypatch, tmp_path, gated=state == "running")
    try:
        operator = NomadDispatchJobOperator(
            task_id="settle", job_id="settlement", result_file="alloc/result.json"
        )
        mixed = identity("mixed")
        meta = {"business_date": BUSINESS_DATE}
        signed = signed_meta(cluster.job("settlement").json(), meta)
        ours, _, _ = operator._adopt_or_dispatch(mixed, 1, meta, None, signed=signed)
        planted = cluster.plant("mixed", business_date=FORGED_DATE, token="planted")
        if state == "succeeded":
            cluster.wait_until_dead(ours)
            cluster.wait_until_dead(planted)

        capfd.readouterr()
        adopted = operator._adopt_or_dispatch(mixed, 2, meta, None, signed=signed)

        assert adopted == (ours, None, state)
        assert f"Adopting {ours}, not {planted}" in capfd.readouterr().out
        assert cluster.children() == sorted([ours, planted])
    finally:
        if cluster.release:
            cluster.release.touch()
        cluster.http.close()
