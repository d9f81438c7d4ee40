"""Secrets never leave the connection: not in task logs, XComs, rendered fields or errors.

A Nomad with ACLs on and mutual TLS (the emulator serving HTTPS, requiring a client certificate
signed by a private CA). The connection carries the ACL token as its password and the CA, client
certificate and client key as inline PEM extras. One DAG run dispatches batches that succeed and
fail, on the worker and deferred, plus a task whose connection has an unknown token. Then
everything that run produced is scanned for the token, the unknown token and every line of the
client key's PEM body: the captured task logs and log records, the XCom and rendered-field rows,
the task instance rows, the log folder, the metadata database files, and the text and repr of the
errors hooks raise. Every source must hold something (what a working run must have written), so a
scan that found nothing to scan fails loudly instead of passing.
"""

from __future__ import annotations

import json
import ssl
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pendulum
import pytest
from airflow.sdk import DAG
from nomad_testlib import batch_job
from reliability_testlib import Pki, iter_pem_body_lines, leaks, make_pki

from airflow_provider_nomad.exceptions import NomadConnectionError, NomadProviderError
from airflow_provider_nomad.hooks.nomad import NomadAsyncHook, NomadHook
from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator
from airflow_provider_nomad.testing import Emulator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
DAG_ID = "secure_settlement"
# Made at run time: the DAG's source file (this module) is stored in the metadata database.
UNKNOWN_TOKEN = str(uuid.uuid4())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def secure_emulator(pki) -> Iterator[Emulator]:
    with Emulator(
        acl=True,
        tls_cert=pki.server_cert_path,
        tls_key=pki.server_key_path,
        tls_ca=pki.ca_path,
        client_cert=(pki.client_cert_path, pki.client_key_path),
    ) as emulator:
        yield emulator


@pytest.fixture
def secure_cluster(secure_emulator, pki, monkeypatch):
    """Jobs registered with the management token; connections with a scoped token."""
    secure_emulator.control.reset()
    tls = ssl.create_default_context(cafile=pki.ca_path)
    tls.load_cert_chain(pki.client_cert_path, pki.client_key_path)
    with httpx.Client(
        base_url=secure_emulator.nomad_addr,
        verify=tls,
        headers={"X-Nomad-Token": secure_emulator.token},
    ) as admin:
        for job_id, exit_code in (("secure-settle", 0), ("secure-recon", 5)):
            job = batch_job(
                job_id,
                "",
                meta_optional=("business_date",),
                driver="mock_driver",
                config={
                    "run_for": "200ms",
                    "exit_code": exit_code,
                    "stdout_string": f"{job_id}: 42 trades settled\n",
                    "stderr_string": f"{job_id}: ledger check done\n",
                },
            )
            admin.post("/v1/jobs", json={"Job": job}).raise_for_status()
    token = secure_emulator.control.create_token(
        capabilities=("list-jobs", "read-job", "dispatch-job", "read-logs", "submit-job")
    )
    for conn_id, password in (("nomad_default", token), ("nomad_bad_token", UNKNOWN_TOKEN)):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}",
            json.dumps(connection(secure_emulator, pki, password)),
        )
    return token


def connection(emulator: Emulator, pki: Pki, password: str, **extra: str) -> dict:
    return {
        "conn_type": "nomad",
        "host": emulator.nomad_addr,
        "password": password,
        "extra": {
            "ca_cert": pki.ca_pem,
            "client_cert": pki.client_cert_pem,
            "client_private_key": pki.client_key_pem,
            **extra,
        },
    }


def secrets_of(token: str, pki: Pki, emulator: Emulator) -> dict[str, str]:
    body = list(iter_pem_body_lines(pki.client_key_pem))
    assert body and all(len(line) >= 16 for line in body), "no key material to look for"
    found = {"ACL token": token, "unknown token": UNKNOWN_TOKEN, "management token": emulator.token}
    found.update({f"client key line {i}": line for i, line in enumerate(body, 1)})
    found["client key body"] = "".join(body)
    return found


def test_the_scan_finds_what_it_looks_for(pki, secure_emulator):
    secrets = secrets_of("tok-1234567890", pki, secure_emulator)
    assert leaks("token=tok-1234567890 ", secrets) == ["ACL token: ...'token=tok-1234567890 '..."]
    assert len(leaks(json.dumps({"client_key": pki.client_key_pem}), secrets)) >= 2
    assert leaks(pki.client_cert_pem + pki.ca_pem, secrets) == []


def run_rows(model, **filters) -> list[dict]:
    """All rows of an Airflow model for this DAG run, as dicts of column values."""
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(model).filter_by(dag_id=DAG_ID, **filters).all()
        return [{c.key: getattr(row, c.key) for c in model.__table__.columns} for row in rows]


def test_dag_run_leaves_no_secret_anywhere(
    secure_cluster, secure_emulator, pki, dag_runner, capfd, caplog, airflow_db
):
    token = secure_cluster
    with DAG(DAG_ID, schedule=None, start_date=START, catchup=False) as dag:
        for task_id, job_id, kwargs in (
            ("settle", "secure-settle", {}),
            ("recon", "secure-recon", {}),
            ("settle_deferred", "secure-settle", {"deferrable": True}),
            ("recon_deferred", "secure-recon", {"deferrable": True}),
            ("unknown_token", "secure-settle", {"nomad_conn_id": "nomad_bad_token"}),
        ):
            NomadDispatchJobOperator(
                task_id=task_id, job_id=job_id, meta={"business_date": "{{ ds }}"}, **kwargs
            )
    result = dag_runner(dag)
    captured = capfd.readouterr()
    task_logs = captured.out + captured.err

    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel

    xcoms = run_rows(XComModel, run_id=result.run_id)
    rendered = run_rows(RenderedTaskInstanceFields, run_id=result.run_id)
    task_instances = run_rows(TaskInstance, run_id=result.run_id)
    home = Path(airflow_db)
    log_files = [p for p in (home / "logs").rglob("*") if p.is_file()]
    db_files = [p for p in home.glob("airflow.db*") if p.is_file()]

    # What the run must have produced, so that the scan below has something to scan.
    assert result.task_states == {
        "settle": "success",
        "recon": "failed",
        "settle_deferred": "success",
        "recon_deferred": "failed",
        "unknown_token": "failed",
    }, task_logs[-3000:]
    assert task_logs.count("stdout] secure-settle: 42 trades settled") == 2
    assert task_logs.count("stderr] secure-recon: ledger check done") >= 2
    assert task_logs.count("exited with code 5") >= 2
    assert "NomadPermissionError: Nomad GET /v1/job/secure-settle failed with HTTP 403" in task_logs
    assert len([x for x in xcoms if x["key"] == "nomad_job_id"]) == 4
    assert len([x for x in xcoms if x["key"] == "return_value"]) == 2
    assert len(rendered) == 5
    assert all("2026-11-24" in json.dumps(r["rendered_fields"]) for r in rendered)
    assert len(task_instances) == 5
    assert any(DAG_ID.encode() in p.read_bytes() for p in db_files), "not the run's database"

    sources = {
        "task logs": task_logs,
        "log records": caplog.text,
        "XCom rows": json.dumps(xcoms, default=str),
        "rendered fields": json.dumps(rendered, default=str),
        "task instance rows": json.dumps(task_instances, default=str),
        **{f"log file {p.name}": p.read_text(errors="replace") for p in log_files},
        **{f"database file {p.name}": p.read_bytes().decode("latin-1") for p in db_files},
    }
    secrets = secrets_of(token, pki, secure_emulator)
    found = {name: leaks(text, secrets) for name, text in sources.items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def error_texts(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


async def test_errors_and_reprs_of_hooks_leak_no_secret(secure_cluster, secure_emulator, pki):
    token = secure_cluster
    texts: list[str] = []
    bad = NomadHook("nomad_bad_token")
    with pytest.raises(NomadProviderError) as sync_denied:
        bad.get_job("secure-settle")
    texts.append(error_texts(sync_denied.value))
    async with NomadAsyncHook("nomad_bad_token") as abad:
        with pytest.raises(NomadProviderError) as async_denied:
            await abad.get_job("secure-settle")
        texts.append(error_texts(async_denied.value))
        texts.append(repr(abad))
    with pytest.raises(NomadProviderError) as gone:
        NomadHook().get_job("no-such-job")
    texts.append(error_texts(gone.value))
    good = NomadHook()
    texts += [repr(good), repr(good.settings), str(good.settings), repr(bad)]

    assert "ACL token not found" in texts[0] or "Permission denied" in texts[0]
    assert "Permission denied" in texts[1] or "ACL token not found" in texts[1]
    assert "404" in texts[3]
    secrets = secrets_of(token, pki, secure_emulator)
    assert [hit for text in texts for hit in leaks(text, secrets)] == []


def _key_body(pki: Pki) -> str:
    return "\n".join(iter_pem_body_lines(pki.client_key_pem))


@pytest.mark.parametrize(
    "case",
    ["key-without-armour", "token-in-host-with-bad-scheme", "token-in-host-query"],
)
def test_connection_errors_leak_no_secret(case, secure_emulator, pki, monkeypatch):
    conn = connection(secure_emulator, pki, UNKNOWN_TOKEN)
    if case == "key-without-armour":
        # Pasting the key without its BEGIN/END lines is a plausible mistake.
        conn["extra"]["client_private_key"] = _key_body(pki)
    elif case == "token-in-host-with-bad-scheme":
        conn["host"] = f"ftp://ops:{UNKNOWN_TOKEN}@127.0.0.1"
    else:
        conn["host"] = f"{secure_emulator.nomad_addr}/?token={UNKNOWN_TOKEN}"
    monkeypatch.setenv("AIRFLOW_CONN_NOMAD_DEFAULT", json.dumps(conn))
    with pytest.raises(NomadConnectionError) as caught:
        _ = NomadHook().settings
    text = error_texts(caught.value)
    assert "Airflow connection 'nomad_default' (Nomad): " in text
    assert leaks(text, secrets_of(UNKNOWN_TOKEN, pki, secure_emulator)) == []
