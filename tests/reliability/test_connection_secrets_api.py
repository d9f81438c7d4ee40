"""The mTLS client key stays hidden where Airflow shows a connection: its REST API (which the
UI's connection form reads) and the task log masker.

Airflow hides an extra only when its name says it is secret; the key's PEM text lives in the
``client_private_key`` extra for that reason. The check goes through a real ``airflow
api-server`` process on the test session's database, as the UI would.
"""

from __future__ import annotations

import json

import pytest
from airflow_procs import api_server
from cryptography import x509
from pki_testlib import CLIENT_AUTH, CertificateAuthority
from reliability_testlib import iter_pem_body_lines

from airflow_provider_nomad.hooks.nomad import NomadHook

CONN_ID = "nomad_prod_mtls"
TOKEN = "0b9c8d7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e"


@pytest.fixture(scope="module")
def client_pem() -> tuple[str, str]:
    ca = CertificateAuthority("Settlement Nomad CA")
    return ca.issue("airflow", CLIENT_AUTH, [x509.DNSName("airflow")])


def _connection_body(cert_pem: str, key_pem: str) -> dict:
    return {
        "connection_id": CONN_ID,
        "conn_type": "nomad",
        "host": "https://nomad.settlement.internal",
        "password": TOKEN,
        "extra": json.dumps({"client_cert": cert_pem, "client_private_key": key_pem}),
    }


@pytest.mark.slow
def test_rest_api_never_returns_the_client_key(airflow_db, tmp_path, client_pem):
    cert_pem, key_pem = client_pem
    body_lines = list(iter_pem_body_lines(key_pem))
    assert body_lines, "no key material to look for"
    with api_server(tmp_path) as server:
        created = server.client.post(
            "/api/v2/connections", json=_connection_body(cert_pem, key_pem)
        )
        assert created.status_code in (200, 201), created.text
        try:
            answers = {
                "get": server.client.get(f"/api/v2/connections/{CONN_ID}"),
                "list": server.client.get("/api/v2/connections"),
                "created": created,
            }
            for name, answer in answers.items():
                assert answer.status_code == 200 or name == "created", answer.text
                for line in [key_pem.strip(), TOKEN, *body_lines]:
                    assert line not in answer.text, f"{name}: the key or token is shown"
            extra = json.loads(answers["get"].json()["extra"])
            assert extra["client_private_key"] == "***"
            assert extra["client_cert"] == cert_pem  # a certificate is public: still shown
        finally:
            server.client.delete(f"/api/v2/connections/{CONN_ID}")


def test_task_log_masker_hides_the_key(monkeypatch, client_pem):
    """Reading the connection registers the key with the log masker, every body line too."""
    from airflow.sdk._shared.secrets_masker import redact

    cert_pem, key_pem = client_pem
    conn = _connection_body(cert_pem, key_pem)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(
            {
                "conn_type": "nomad",
                "host": conn["host"],
                "password": TOKEN,
                "extra": json.loads(conn["extra"]),
            }
        ),
    )
    NomadHook(CONN_ID).settings  # noqa: B018 - reading the connection is the point
    logged = f"loaded key {key_pem} then, line by line: " + " ".join(iter_pem_body_lines(key_pem))
    redacted = redact(logged)
    for line in iter_pem_body_lines(key_pem):
        assert line not in redacted
