"""From an Airflow connection to ClientSettings: URI and JSON forms, overrides, errors, TLS."""

from __future__ import annotations

import json
import logging
import os
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from airflow.sdk import BaseHook

from airflow_provider_nomad.connection import (
    ClientSettings,
    InlinePem,
    consul_settings_from_connection,
    httpx_client_kwargs,
    nomad_settings_from_connection,
    ssl_context,
)
from airflow_provider_nomad.exceptions import NomadConnectionError

TOKEN = "3f1c2a9e-5b7d-4c1e-9a2b-7d8e6f5a4b3c"


def _conn(monkeypatch: pytest.MonkeyPatch, value: str | dict, conn_id: str = "nomad_default"):
    if isinstance(value, dict):
        value = json.dumps(value)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    return BaseHook.get_connection(conn_id)


def test_uri_form_with_token_namespace_region(monkeypatch):
    conn = _conn(monkeypatch, f"nomad://:{TOKEN}@nomad.internal:4646/?namespace=batch&region=eu")
    settings = nomad_settings_from_connection(conn)
    assert settings == ClientSettings(
        base_url="http://nomad.internal:4646",
        token=TOKEN,
        namespace="batch",
        region="eu",
        verify=True,
    )


def test_uri_form_https_schema_and_skip_verify_string(monkeypatch):
    conn = _conn(monkeypatch, f"nomad://:{TOKEN}@nomad.internal:4647/https?tls_skip_verify=true")
    settings = nomad_settings_from_connection(conn)
    assert settings.base_url == "https://nomad.internal:4647"
    assert settings.verify is False
    assert settings.namespace == "default"


def test_uri_form_with_scheme_in_host(monkeypatch):
    conn = _conn(monkeypatch, f"nomad://https://:{TOKEN}@nomad.internal:4646")
    assert nomad_settings_from_connection(conn).base_url == "https://nomad.internal:4646"


def test_json_form(monkeypatch):
    conn = _conn(
        monkeypatch,
        {
            "conn_type": "nomad",
            "host": "https://nomad.internal",
            "password": TOKEN,
            "extra": {"namespace": "settlement", "tls_server_name": "server.global.nomad"},
        },
    )
    settings = nomad_settings_from_connection(conn)
    assert settings.base_url == "https://nomad.internal:4646"
    assert settings.token == TOKEN
    assert settings.namespace == "settlement"
    assert settings.region is None
    assert settings.tls_server_name == "server.global.nomad"
    assert settings.verify is True


def test_defaults_without_host_are_nomads_own(monkeypatch):
    settings = nomad_settings_from_connection(_conn(monkeypatch, {"conn_type": "nomad"}))
    assert settings.base_url == "http://127.0.0.1:4646"
    assert settings.token is None
    assert settings.namespace == "default"
    assert settings.timeout == 30.0


def test_explicit_arguments_override_extras(monkeypatch):
    conn = _conn(monkeypatch, "nomad://nomad.internal/?namespace=a&region=r1")
    settings = nomad_settings_from_connection(conn, namespace="b", region="r2", timeout=5)
    assert (settings.namespace, settings.region, settings.timeout) == ("b", "r2", 5.0)


def test_environment_variables_are_not_read(monkeypatch):
    monkeypatch.setenv("NOMAD_TOKEN", "env-token-must-not-be-used")
    monkeypatch.setenv("NOMAD_NAMESPACE", "env-namespace")
    monkeypatch.setenv("NOMAD_ADDR", "http://env-host:9999")
    settings = nomad_settings_from_connection(_conn(monkeypatch, "nomad://nomad.internal"))
    assert settings.token is None
    assert settings.namespace == "default"
    assert settings.base_url == "http://nomad.internal:4646"


def test_legacy_prefixed_extras_and_blank_values(monkeypatch):
    conn = _conn(
        monkeypatch,
        {
            "conn_type": "nomad",
            "host": "nomad.internal",
            "extra": {"extra__nomad__namespace": "ops", "region": "", "ca_cert": None},
        },
    )
    settings = nomad_settings_from_connection(conn)
    assert (settings.namespace, settings.region, settings.verify) == ("ops", None, True)


def test_ipv6_host(monkeypatch):
    conn = _conn(monkeypatch, {"conn_type": "nomad", "host": "http://[::1]", "port": 4646})
    assert nomad_settings_from_connection(conn).base_url == "http://[::1]:4646"


def test_token_never_in_repr_or_str(monkeypatch):
    settings = nomad_settings_from_connection(_conn(monkeypatch, f"nomad://:{TOKEN}@h"))
    assert settings.token == TOKEN
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings)


@pytest.mark.parametrize(
    ("conn", "fragment"),
    [
        (
            {"conn_type": "nomad", "host": "h", "extra": {"namespce": "x"}},
            "unknown extra field(s) ['namespce']; accepted: ['ca_cert', 'client_cert', "
            "'client_key', 'client_private_key', 'namespace', 'region', 'tls_server_name', "
            "'tls_skip_verify']. "
            "Remove them or fix their spelling.",
        ),
        (
            {"conn_type": "nomad", "host": "h", "extra": {"tls_skip_verify": "maybe"}},
            "extra 'tls_skip_verify' must be true or false, got 'maybe'",
        ),
        (
            {"conn_type": "nomad", "host": "h", "extra": {"tls_skip_verify": 3}},
            "extra 'tls_skip_verify' must be true or false, got 3",
        ),
        (
            {"conn_type": "nomad", "host": "h", "port": 70000},
            "port must be between 1 and 65535, got 70000",
        ),
        ({"conn_type": "nomad", "host": "h", "schema": "ftp"}, "schema must be 'http' or 'https'"),
        (
            {"conn_type": "nomad", "host": "http://h", "schema": "https"},
            "host says 'http' but schema says 'https'",
        ),
        (
            {"conn_type": "nomad", "host": "http://h:4646", "port": 4647},
            "host says port 4646 but the port field says 4647: keep one",
        ),
        (
            {"conn_type": "nomad", "host": "h", "extra": {"ca_cert": "/nonexistent/ca.pem"}},
            "extra 'ca_cert': no file at '/nonexistent/ca.pem'",
        ),
        (
            {"conn_type": "nomad", "host": "h", "extra": {"namespace": 5}},
            "extra 'namespace' must be a string, got int",
        ),
    ],
)
def test_bad_settings_name_the_field_and_fix(monkeypatch, conn, fragment):
    with pytest.raises(NomadConnectionError) as info:
        nomad_settings_from_connection(_conn(monkeypatch, conn))
    assert "Airflow connection 'nomad_default' (Nomad): " in str(info.value)
    assert fragment in str(info.value)


def test_client_cert_without_key(monkeypatch, tmp_path):
    cert = tmp_path / "client.pem"
    cert.write_text("x")
    conn = {"conn_type": "nomad", "host": "h", "extra": {"client_cert": str(cert)}}
    with pytest.raises(NomadConnectionError) as info:
        nomad_settings_from_connection(_conn(monkeypatch, conn))
    assert "client_cert is set but client_key is not: mutual TLS needs both" in str(info.value)


def _mtls_conn(tls_material, **extra) -> dict:
    return {
        "conn_type": "nomad",
        "host": "https://h",
        "extra": {
            "ca_cert": tls_material.ca_pem,
            "client_cert": tls_material.client_cert_pem,
            "client_private_key": tls_material.client_key_pem,
            **extra,
        },
    }


def _files_holding(directory: Path, needle: str) -> list[Path]:
    return [
        path
        for path in directory.rglob("*")
        if path.is_file() and needle in path.read_text(errors="replace")
    ]


def test_inline_pem_is_loaded_from_memory_never_written(monkeypatch, tls_material, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    settings = nomad_settings_from_connection(_conn(monkeypatch, _mtls_conn(tls_material)))
    assert settings.verify == InlinePem(tls_material.ca_pem)
    assert settings.cert == (
        InlinePem(tls_material.client_cert_pem),
        InlinePem(tls_material.client_key_pem),
    )
    ctx = ssl_context(settings)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.get_ca_certs(), "the inline CA was not loaded"
    key_line = tls_material.client_key_pem.splitlines()[1]
    assert _files_holding(tmp_path, key_line) == []
    # Key material is never in the repr, neither of the settings nor of their parts.
    assert "PRIVATE KEY" not in repr(settings)
    assert key_line not in repr(settings.cert)


_HOLD_A_CONTEXT = """
import json, os, sys
from types import SimpleNamespace
from airflow_provider_nomad.connection import nomad_settings_from_connection, ssl_context
conn = SimpleNamespace(conn_id="c", host="https://h", port=None, schema=None, password=None,
                       extra_dejson=json.loads(sys.argv[1]))
ssl_context(nomad_settings_from_connection(conn))
print("loaded", flush=True)
sys.stdin.read()
"""


def test_no_key_material_on_disk_after_sigkill(tls_material, tmp_path):
    """A worker killed right after loading its TLS material leaves no key file behind."""
    extra = _mtls_conn(tls_material)["extra"]
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_CONTEXT, json.dumps(extra)],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # Airflow may log its start-up first; the line that matters is "loaded".
        assert any(line.strip() == "loaded" for line in proc.stdout), "the child did not load"
    finally:
        proc.kill()
        proc.wait(timeout=60)
    key_line = tls_material.client_key_pem.splitlines()[1]
    assert _files_holding(tmp_path, key_line) == []


def test_inline_key_under_client_key_is_refused(monkeypatch, tls_material):
    conn = _mtls_conn(tls_material)
    conn["extra"]["client_key"] = conn["extra"].pop("client_private_key")
    with pytest.raises(NomadConnectionError) as info:
        nomad_settings_from_connection(_conn(monkeypatch, conn))
    message = str(info.value)
    assert "Move the PEM text to the extra 'client_private_key'" in message
    assert tls_material.client_key_pem.splitlines()[1] not in message


@pytest.mark.parametrize("extra", ["client_cert", "ca_cert"])
def test_a_private_key_in_a_certificate_extra_is_refused(monkeypatch, tls_material, extra):
    # ``cat cert.pem key.pem`` pasted as one bundle would load, but Airflow shows these extras
    # in clear: the key belongs in client_private_key.
    conn = _mtls_conn(tls_material)
    conn["extra"][extra] += tls_material.client_key_pem
    with pytest.raises(NomadConnectionError) as info:
        nomad_settings_from_connection(_conn(monkeypatch, conn))
    message = str(info.value)
    assert f"extra {extra!r} holds a private key" in message
    assert "Move the key's PEM block to the extra 'client_private_key'" in message
    assert tls_material.client_key_pem.splitlines()[1] not in message


def test_client_key_and_client_private_key_are_exclusive(monkeypatch, tls_material):
    conn = _mtls_conn(tls_material, client_key=tls_material.client_key)
    with pytest.raises(NomadConnectionError, match="both set: keep one"):
        nomad_settings_from_connection(_conn(monkeypatch, conn))


def _encrypted_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()


@pytest.mark.parametrize("form", ["inline", "path"])
def test_encrypted_client_key_is_refused_when_parsed(monkeypatch, tls_material, tmp_path, form):
    pem = _encrypted_key_pem()
    if form == "inline":
        extra = {"client_private_key": pem}
    else:
        (tmp_path / "key.pem").write_text(pem)
        extra = {"client_key": str(tmp_path / "key.pem")}
    conn = {
        "conn_type": "nomad",
        "host": "https://h",
        "extra": {"client_cert": tls_material.client_cert_pem, **extra},
    }
    with pytest.raises(NomadConnectionError) as info:
        nomad_settings_from_connection(_conn(monkeypatch, conn))
    assert "the client key is encrypted (passphrase-protected)" in str(info.value)
    assert "openssl pkey" in str(info.value)


def test_encrypted_key_never_prompts_when_loaded(tls_material, tmp_path):
    """Past the parser (settings built by hand), loading still refuses instead of prompting."""
    key = tmp_path / "key.pem"
    key.write_text(_encrypted_key_pem())
    settings = ClientSettings(base_url="https://h:4646", cert=(tls_material.client_cert, str(key)))
    with pytest.raises(NomadConnectionError, match="encrypted"):
        ssl_context(settings)


@pytest.mark.parametrize(
    "extra",
    [
        {"ca_cert": "ca"},
        {"tls_server_name": "server.global.nomad"},
        {"tls_skip_verify": "true"},
    ],
)
def test_tls_extras_without_a_scheme_mean_https(monkeypatch, tls_material, extra):
    if "ca_cert" in extra:
        extra = {"ca_cert": tls_material.ca_path}
    conn = {"conn_type": "nomad", "host": "nomad.internal", "extra": extra}
    settings = nomad_settings_from_connection(_conn(monkeypatch, conn))
    assert settings.base_url == "https://nomad.internal:4646"


def test_tls_extras_with_http_are_refused(monkeypatch, tls_material):
    for host, schema in (("http://nomad.internal", None), ("nomad.internal", "http")):
        conn = {
            "conn_type": "nomad",
            "host": host,
            "schema": schema,
            "extra": {"ca_cert": tls_material.ca_path},
        }
        with pytest.raises(NomadConnectionError, match="the token would travel in clear"):
            nomad_settings_from_connection(_conn(monkeypatch, conn))


def test_no_tls_extras_keep_plain_http(monkeypatch):
    conn = {"conn_type": "nomad", "host": "nomad.internal", "extra": {"tls_skip_verify": False}}
    settings = nomad_settings_from_connection(_conn(monkeypatch, conn))
    assert settings.base_url == "http://nomad.internal:4646"


def test_httpx_client_reads_nothing_from_the_environment(monkeypatch):
    settings = ClientSettings(base_url="http://h:4646")
    assert httpx_client_kwargs(settings)["trust_env"] is False


def test_ca_path_is_kept(monkeypatch, tls_material):
    conn = {"conn_type": "nomad", "host": "https://h", "extra": {"ca_cert": tls_material.ca_path}}
    assert nomad_settings_from_connection(_conn(monkeypatch, conn)).verify == tls_material.ca_path


def test_skip_verify_wins_over_ca(monkeypatch, tls_material):
    conn = {
        "conn_type": "nomad",
        "host": "https://h",
        "extra": {"ca_cert": tls_material.ca_path, "tls_skip_verify": True},
    }
    assert nomad_settings_from_connection(_conn(monkeypatch, conn)).verify is False


def test_consul_settings(monkeypatch):
    conn = _conn(
        monkeypatch,
        {
            "conn_type": "consul",
            "host": "consul.internal",
            "password": TOKEN,
            "extra": {"datacenter": "dc2"},
        },
        conn_id="consul_default",
    )
    settings = consul_settings_from_connection(conn)
    assert settings.base_url == "http://consul.internal:8500"
    assert (settings.datacenter, settings.namespace, settings.token) == ("dc2", None, TOKEN)
    with pytest.raises(NomadConnectionError, match=r"unknown extra field\(s\) \['namespace'\]"):
        consul_settings_from_connection(
            _conn(monkeypatch, {"conn_type": "consul", "extra": {"namespace": "x"}}, "c2")
        )


def test_ssl_context_modes(tls_material):
    verified = ssl_context(ClientSettings("https://h:4646", verify=tls_material.ca_path))
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
    skipped = ssl_context(ClientSettings("https://h:4646", verify=False))
    assert skipped.verify_mode == ssl.CERT_NONE and not skipped.check_hostname
    pinned = ssl_context(
        ClientSettings("https://h:4646", verify=True, tls_server_name="server.global.nomad")
    )
    assert pinned.pinned_server_name == "server.global.nomad"


def test_httpx_client_kwargs(tls_material):
    settings = ClientSettings("https://h:4646", token=TOKEN, verify=tls_material.ca_path)
    kwargs = httpx_client_kwargs(settings)
    assert kwargs["base_url"] == "https://h:4646"
    assert kwargs["headers"]["X-Nomad-Token"] == TOKEN
    assert isinstance(kwargs["verify"], ssl.SSLContext)
    consul = httpx_client_kwargs(settings, token_header="X-Consul-Token")
    assert consul["headers"]["X-Consul-Token"] == TOKEN
    assert "X-Nomad-Token" not in consul["headers"]
    assert "X-Nomad-Token" not in httpx_client_kwargs(ClientSettings("http://h:1"))["headers"]


@pytest.mark.parametrize(
    ("host", "extra", "token", "warned"),
    [
        ("nomad.internal:4646", {}, TOKEN, True),
        ("http://10.0.0.5:4646", {}, TOKEN, True),
        ("https://nomad.internal:4646", {}, TOKEN, False),
        ("nomad.internal:4646", {"tls_server_name": "server.global.nomad"}, TOKEN, False),
        ("127.0.0.1:4646", {}, TOKEN, False),
        ("http://[::1]:4646", {}, TOKEN, False),
        ("localhost:4646", {}, TOKEN, False),
        ("nomad.internal:4646", {}, "", False),
    ],
    ids=["name", "ip", "https", "tls-extras", "loopback", "loopback-v6", "localhost", "no-token"],
)
def test_a_token_sent_in_clear_off_the_machine_is_warned_of_once(
    monkeypatch, caplog, host, extra, token, warned
):
    from airflow_provider_nomad import connection

    connection._warn_once.cache_clear()
    conn = {"conn_type": "nomad", "host": host, "password": token, "extra": extra}
    with caplog.at_level(logging.WARNING, logger=connection.__name__):
        for _ in range(3):  # a triggerer builds one hook per trigger
            nomad_settings_from_connection(_conn(monkeypatch, conn))
    warnings = [r.getMessage() for r in caplog.records if "in clear" in r.getMessage()]
    assert len(warnings) == (1 if warned else 0), warnings
    if warned:
        assert "'nomad_default' (Nomad): the ACL token goes in clear over http" in warnings[0]
        assert TOKEN not in warnings[0]


def test_skipping_verification_is_warned_of_once(monkeypatch, caplog):
    from airflow_provider_nomad import connection

    connection._warn_once.cache_clear()
    conn = {"conn_type": "nomad", "host": "https://h", "extra": {"tls_skip_verify": True}}
    with caplog.at_level(logging.WARNING, logger=connection.__name__):
        for _ in range(3):
            nomad_settings_from_connection(_conn(monkeypatch, conn))
    warnings = [r.getMessage() for r in caplog.records if "tls_skip_verify" in r.getMessage()]
    assert warnings == [
        "Airflow connection 'nomad_default' (Nomad): tls_skip_verify is on, so the certificate "
        "of https://h:4646 is not checked and whoever intercepts the connection gets the ACL "
        "token. Set ca_cert to the CA that signed it instead."
    ]
