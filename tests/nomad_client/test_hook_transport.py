"""Both hooks over real HTTP(S) on loopback: TLS modes, unreachable agents, token hygiene.

A small ``http.server`` stands in for Nomad here: these tests are about the transport
(certificates, server names, mutual TLS, refused connections), not Nomad's behaviour.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from nomad_testlib import HANG_BOUND

from airflow_provider_nomad.exceptions import (
    NomadPermissionError,
    NomadTlsError,
    NomadUnreachableError,
)
from airflow_provider_nomad.hooks.nomad import NomadAsyncHook, NomadHook
from airflow_provider_nomad.retry import RetryPolicy

TOKEN = "5e0c7b1a-93f2-4d6e-b8a1-c2d3e4f5a6b7"
FAST = RetryPolicy(max_attempts=3, max_delay=20, initial_wait=0.001, max_wait=0.002)


def use_connection(monkeypatch, address: str, *, token: str | None = TOKEN, **extra) -> None:
    conn = {"conn_type": "nomad", "host": address, "extra": extra}
    if token:
        conn["password"] = token
    monkeypatch.setenv("AIRFLOW_CONN_NOMAD_DEFAULT", json.dumps(conn))


def list_sync(**hook_kwargs) -> list:
    hook = NomadHook(retry_policy=FAST, **hook_kwargs)
    try:
        return hook.list_jobs("x")
    finally:
        hook.close()


async def list_async(**hook_kwargs) -> list:
    async with NomadAsyncHook(retry_policy=FAST, **hook_kwargs) as hook:
        body, index = await hook.get_job_evaluations("x")  # any GET the test server answers
        assert index == 7
        return body


def _errors(exc: BaseException) -> str:
    return f"{exc}\n{exc!r}"


def logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> str:
    """Everything logged: Airflow's hook loggers are structlog loggers writing to stdout."""
    captured = capsys.readouterr()
    return "\n".join([caplog.text, captured.out, captured.err])


# -- TLS: sync --


def test_sync_untrusted_certificate_is_a_clear_tls_error(monkeypatch, tls_server):
    use_connection(monkeypatch, tls_server.address)
    with pytest.raises(NomadTlsError) as info:
        list_sync()
    text = str(info.value)
    assert f"TLS: the certificate of Nomad at {tls_server.address} is not trusted" in text
    assert "set the connection's ca_cert extra" in text
    assert tls_server.seen == []  # not retried, and no request got through


def test_sync_trusted_with_ca_cert_and_sends_token(monkeypatch, tls_server, tls_material):
    use_connection(monkeypatch, tls_server.address, ca_cert=tls_material.ca_path)
    assert list_sync() == []
    [request] = tls_server.seen
    assert request["headers"]["X-Nomad-Token"] == TOKEN
    assert parse_qs(urlsplit(request["path"]).query) == {"namespace": ["default"], "prefix": ["x"]}


def test_sync_inline_pem_ca(monkeypatch, tls_server, tls_material):
    use_connection(monkeypatch, tls_server.address, ca_cert=tls_material.ca_pem)
    assert list_sync() == []


def test_sync_wrong_ca_fails(monkeypatch, tls_server, tls_material):
    use_connection(monkeypatch, tls_server.address, ca_cert=tls_material.other_ca_path)
    with pytest.raises(NomadTlsError, match="is not trusted"):
        list_sync()


def test_sync_skip_verify(monkeypatch, tls_server):
    use_connection(monkeypatch, tls_server.address, tls_skip_verify="true")
    assert list_sync() == []


def test_sync_tls_server_name(monkeypatch, tls_server_nomad_name, tls_material):
    use_connection(monkeypatch, tls_server_nomad_name.address, ca_cert=tls_material.ca_path)
    with pytest.raises(NomadTlsError, match="set tls_server_name"):
        list_sync()
    use_connection(
        monkeypatch,
        tls_server_nomad_name.address,
        ca_cert=tls_material.ca_path,
        tls_server_name="server.global.nomad",
    )
    assert list_sync() == []


def test_sync_mutual_tls(monkeypatch, mtls_server, tls_material):
    use_connection(
        monkeypatch,
        mtls_server.address,
        ca_cert=tls_material.ca_path,
        client_cert=tls_material.client_cert,
        client_key=tls_material.client_key,
    )
    assert list_sync() == []
    subject = dict(x[0] for x in mtls_server.seen[0]["peer_cert"]["subject"])
    assert subject["commonName"] == "airflow"


def test_sync_https_to_plain_http_agent(monkeypatch, plain_server):
    address = plain_server.address.replace("http://", "https://")
    use_connection(monkeypatch, address)
    with pytest.raises(NomadTlsError) as info:
        list_sync()
    assert f"TLS handshake with Nomad at {address} failed" in str(info.value)
    assert "Is the scheme right?" in str(info.value)


# -- TLS: async --


async def test_async_untrusted_certificate(monkeypatch, tls_server):
    use_connection(monkeypatch, tls_server.address)
    with pytest.raises(NomadTlsError) as info:
        await list_async()
    assert f"the certificate of Nomad at {tls_server.address} is not trusted" in str(info.value)


async def test_async_trusted_with_ca_cert(monkeypatch, tls_server, tls_material):
    use_connection(monkeypatch, tls_server.address, ca_cert=tls_material.ca_path)
    assert await list_async() == []
    assert tls_server.seen[0]["headers"]["X-Nomad-Token"] == TOKEN


async def test_async_skip_verify(monkeypatch, tls_server):
    use_connection(monkeypatch, tls_server.address, tls_skip_verify=True)
    assert await list_async() == []


async def test_async_tls_server_name(monkeypatch, tls_server_nomad_name, tls_material):
    use_connection(monkeypatch, tls_server_nomad_name.address, ca_cert=tls_material.ca_path)
    with pytest.raises(NomadTlsError, match="not trusted"):
        await list_async()
    use_connection(
        monkeypatch,
        tls_server_nomad_name.address,
        ca_cert=tls_material.ca_path,
        tls_server_name="server.global.nomad",
    )
    assert await list_async() == []


async def test_async_mutual_tls(monkeypatch, mtls_server, tls_material):
    use_connection(
        monkeypatch,
        mtls_server.address,
        ca_cert=tls_material.ca_path,
        client_cert=tls_material.client_cert_pem,
        client_private_key=tls_material.client_key_pem,
    )
    assert await list_async() == []
    assert mtls_server.seen[0]["peer_cert"] is not None


# -- unreachable --


def test_sync_unreachable_names_the_address_and_is_retried(
    monkeypatch, closed_port, caplog, capsys
):
    address = f"http://127.0.0.1:{closed_port}"
    use_connection(monkeypatch, address)
    with caplog.at_level(logging.WARNING), pytest.raises(NomadUnreachableError) as info:
        list_sync()
    assert str(info.value) == (
        f"Cannot reach Nomad at {address}: connection refused (GET /v1/jobs). Check the "
        "connection's host, port and scheme, and that the Nomad agent is running"
    )
    assert info.value.request_sent is False
    retries = [line for line in logged(caplog, capsys).splitlines() if "retrying in" in line]
    assert len(retries) == FAST.max_attempts - 1
    assert all("GET /v1/jobs" in line for line in retries)


async def test_async_unreachable(monkeypatch, closed_port):
    address = f"http://127.0.0.1:{closed_port}"
    use_connection(monkeypatch, address)
    with pytest.raises(NomadUnreachableError) as info:
        await list_async()
    assert str(info.value).startswith(f"Cannot reach Nomad at {address}: ")
    assert info.value.request_sent is False


def test_unresolvable_host(monkeypatch):
    use_connection(monkeypatch, "http://nomad.invalid")
    with pytest.raises(NomadUnreachableError, match="the host name does not resolve"):
        NomadHook(retry_policy=RetryPolicy(max_attempts=1)).list_jobs("x")


# -- token hygiene --


def test_token_never_in_errors_reprs_or_logs(monkeypatch, plain_server, caplog, capsys):
    use_connection(monkeypatch, plain_server.address)
    hook = NomadHook(retry_policy=FAST)
    with caplog.at_level(logging.DEBUG), pytest.raises(NomadPermissionError) as info:
        hook.get_job("echo-token")
    # The server did receive the token, and quoted it in its answer...
    assert plain_server.seen[0]["headers"]["X-Nomad-Token"] == TOKEN
    # ...but it appears nowhere on our side.
    assert "rpc error: token <redacted>: Permission denied" in str(info.value)
    assert TOKEN not in _errors(info.value)
    assert TOKEN not in repr(hook) and TOKEN not in repr(hook.settings)
    assert TOKEN not in str(hook.settings)
    assert TOKEN not in logged(caplog, capsys)


async def test_async_token_never_in_errors(monkeypatch, plain_server, caplog, capsys):
    use_connection(monkeypatch, plain_server.address)
    with caplog.at_level(logging.DEBUG):
        async with NomadAsyncHook(retry_policy=FAST) as hook:
            with pytest.raises(NomadPermissionError) as info:
                await hook.get_job("echo-token")
            assert TOKEN not in repr(hook)
    assert plain_server.seen[0]["headers"]["X-Nomad-Token"] == TOKEN
    assert TOKEN not in _errors(info.value)
    assert TOKEN not in logged(caplog, capsys)


def test_unreachable_errors_carry_no_token(monkeypatch, closed_port, caplog, capsys):
    use_connection(monkeypatch, f"http://127.0.0.1:{closed_port}")
    with caplog.at_level(logging.DEBUG), pytest.raises(NomadUnreachableError) as info:
        list_sync()
    assert TOKEN not in _errors(info.value)
    text = logged(caplog, capsys)
    assert "retrying in" in text  # the retries were logged, without the token
    assert TOKEN not in text


def test_nomad_environment_is_ignored_by_python_nomad_client(monkeypatch, plain_server):
    # python-nomad falls back to these whenever an argument is empty; the hook must not.
    monkeypatch.setenv("NOMAD_TOKEN", "env-token")
    monkeypatch.setenv("NOMAD_NAMESPACE", "env-ns")
    monkeypatch.setenv("NOMAD_REGION", "env-region")
    use_connection(monkeypatch, plain_server.address, token=None)
    hook = NomadHook(retry_policy=FAST)
    assert hook.list_jobs("x") == []
    request = plain_server.seen[0]
    assert "X-Nomad-Token" not in request["headers"]
    assert parse_qs(urlsplit(request["path"]).query) == {"namespace": ["default"], "prefix": ["x"]}
    client = hook.get_conn()
    assert client.get_token() is None and client.get_namespace() == "default"
    # python-nomad's own endpoint methods, through get_conn(), use the same settings.
    assert client.jobs.get_jobs() == []
    assert "X-Nomad-Token" not in plain_server.seen[1]["headers"]
    assert "region" not in parse_qs(urlsplit(plain_server.seen[1]["path"]).query)


def test_sync_mutual_tls_without_client_cert(monkeypatch, mtls_server, tls_material):
    use_connection(monkeypatch, mtls_server.address, ca_cert=tls_material.ca_path)
    with pytest.raises(NomadTlsError) as info:
        list_sync()
    assert f"TLS handshake with Nomad at {mtls_server.address} failed" in str(info.value)
    assert "If the agent requires mutual TLS, set client_cert and client_key." in str(info.value)
    assert mtls_server.seen == []


async def test_async_mutual_tls_without_client_cert(monkeypatch, mtls_server, tls_material):
    use_connection(monkeypatch, mtls_server.address, ca_cert=tls_material.ca_path)
    with pytest.raises(NomadTlsError) as info:
        await list_async()
    assert f"TLS handshake with Nomad at {mtls_server.address} failed" in str(info.value)
    assert "If the agent requires mutual TLS, set client_cert and client_key." in str(info.value)
    assert mtls_server.seen == []


OUT_OF_DESCRIPTORS = """
    import asyncio, json, os, resource
    from airflow_provider_nomad.exceptions import NomadUnreachableError
    from airflow_provider_nomad.hooks.nomad import NomadAsyncHook, NomadHook
    from airflow_provider_nomad.retry import RetryPolicy

    fast = RetryPolicy(max_attempts=2, max_delay=20, initial_wait=0.001, max_wait=0.002)
    sync_hook = NomadHook(retry_policy=fast)
    async_hook = NomadAsyncHook(retry_policy=fast)

    async def async_read():
        async with async_hook as hook:
            await hook.get_job_evaluations("x")

    loop = asyncio.new_event_loop()  # its own descriptors (epoll, self-pipe) taken first
    reads = (
        ("sync", lambda: sync_hook.list_jobs("x")),
        ("async", lambda: loop.run_until_complete(async_read())),
    )
    for _, read in reads:  # once with descriptors to spare: every lazy import is done
        try:
            read()
        except NomadUnreachableError:
            pass

    # Every descriptor this process may have is taken: the next socket fails (EMFILE).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 1024), hard))
    held = []
    while True:
        try:
            held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            break
    errors = {}
    for side, read in reads:
        try:
            read()
        except NomadUnreachableError as exc:
            errors[side] = [str(exc), exc.request_sent]
    print(json.dumps(errors))
"""


def test_a_process_out_of_descriptors_is_told_so_not_to_check_the_agent(closed_port):
    import os
    import subprocess
    import sys
    import textwrap

    address = f"http://127.0.0.1:{closed_port}"
    env = {
        **os.environ,
        "AIRFLOW_CONN_NOMAD_DEFAULT": json.dumps({"conn_type": "nomad", "host": address}),
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(OUT_OF_DESCRIPTORS)],
        capture_output=True,
        text=True,
        timeout=HANG_BOUND,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    errors = json.loads(done.stdout.splitlines()[-1])
    assert set(errors) == {"sync", "async"}
    for message, request_sent in errors.values():
        assert message.startswith(
            f"Cannot open a connection to Nomad at {address}: this process has no file "
            "descriptor left (Too many open files; GET /v1/"
        ), message
        assert message.endswith(
            "Raise the limit of open files (ulimit -n; LimitNOFILE= for a systemd service)"
        )
        assert "agent is running" not in message
        assert request_sent is False
