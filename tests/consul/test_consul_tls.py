"""The Consul hooks over HTTPS: verification on by default, private CA, server name, mTLS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from consul_testlib import TlsFiles, connection_env, make_tls_files

from airflow_provider_nomad.exceptions import ConsulConnectionError, ConsulTlsError
from airflow_provider_nomad.hooks.consul import ConsulAsyncHook, ConsulHook
from airflow_provider_nomad.retry import RetryPolicy
from airflow_provider_nomad.testing import Emulator

ONE_TRY = RetryPolicy(max_attempts=1)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("consul-tls"))


@pytest.fixture(scope="module")
def https_emulator(tls: TlsFiles) -> Iterator[Emulator]:
    with Emulator(tls_cert=tls.server_cert, tls_key=tls.server_key) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def named_emulator(tls: TlsFiles) -> Iterator[Emulator]:
    """Serves a certificate for server.dc1.consul only, as Consul agents commonly do."""
    with Emulator(tls_cert=tls.named_cert, tls_key=tls.named_key) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def mtls_emulator(tls: TlsFiles) -> Iterator[Emulator]:
    with Emulator(
        tls_cert=tls.server_cert,
        tls_key=tls.server_key,
        tls_ca=tls.ca,
        client_cert=(tls.client_cert, tls.client_key),
    ) as emulator:
        yield emulator


def test_an_untrusted_certificate_is_refused_by_default(https_emulator, monkeypatch):
    connection_env(monkeypatch, "consul_default", https_emulator.consul_addr)
    with pytest.raises(ConsulTlsError, match="not trusted") as raised:
        ConsulHook(retry_policy=ONE_TRY).leader()
    assert "ca_cert" in str(raised.value)


def test_private_ca_from_a_path_or_inline_pem(https_emulator, tls, monkeypatch):
    connection_env(
        monkeypatch, "consul_default", https_emulator.consul_addr, extra={"ca_cert": tls.ca}
    )
    assert ConsulHook().leader() == "127.0.0.1:8300"
    with open(tls.ca) as handle:
        pem = handle.read()
    connection_env(monkeypatch, "consul_inline", https_emulator.consul_addr, extra={"ca_cert": pem})
    assert ConsulHook("consul_inline").service_exists("consul")


async def test_async_hook_verifies_too(https_emulator, tls, monkeypatch):
    connection_env(monkeypatch, "consul_default", https_emulator.consul_addr)
    async with ConsulAsyncHook(retry_policy=ONE_TRY) as hook:
        with pytest.raises(ConsulTlsError, match="not trusted"):
            await hook.health_report("consul")
    connection_env(
        monkeypatch, "consul_default", https_emulator.consul_addr, extra={"ca_cert": tls.ca}
    )
    async with ConsulAsyncHook() as hook:
        report = await hook.health_report("consul")
    assert report.addresses == ["127.0.0.1:8300"]


def test_skip_verify_is_an_explicit_choice(https_emulator, monkeypatch):
    connection_env(
        monkeypatch,
        "consul_default",
        https_emulator.consul_addr,
        extra={"tls_skip_verify": True},
    )
    assert ConsulHook().leader() == "127.0.0.1:8300"


@pytest.mark.parametrize("hook_kind", ["sync", "async"])
async def test_tls_server_name_for_agent_certificates(named_emulator, tls, monkeypatch, hook_kind):
    connection_env(
        monkeypatch,
        "consul_default",
        named_emulator.consul_addr,
        extra={"ca_cert": tls.ca, "tls_server_name": "server.dc1.consul"},
    )
    connection_env(
        monkeypatch, "consul_no_name", named_emulator.consul_addr, extra={"ca_cert": tls.ca}
    )
    if hook_kind == "sync":
        assert ConsulHook().service_exists("consul")
        with pytest.raises(ConsulTlsError, match="tls_server_name"):
            ConsulHook("consul_no_name", retry_policy=ONE_TRY).service_exists("consul")
    else:
        async with ConsulAsyncHook() as hook:
            assert (await hook.health_report("consul")).instances
        async with ConsulAsyncHook("consul_no_name", retry_policy=ONE_TRY) as hook:
            with pytest.raises(ConsulTlsError, match="tls_server_name"):
                await hook.health_report("consul")


def test_mutual_tls_with_a_client_certificate(mtls_emulator, tls, monkeypatch):
    connection_env(
        monkeypatch,
        "consul_default",
        mtls_emulator.consul_addr,
        extra={"ca_cert": tls.ca, "client_cert": tls.client_cert, "client_key": tls.client_key},
    )
    assert ConsulHook().leader() == "127.0.0.1:8300"
    connection_env(
        monkeypatch, "consul_no_cert", mtls_emulator.consul_addr, extra={"ca_cert": tls.ca}
    )
    with pytest.raises(ConsulConnectionError) as raised:
        ConsulHook("consul_no_cert", retry_policy=ONE_TRY).leader()
    assert mtls_emulator.consul_addr in str(raised.value)
    assert "client_cert and client_key" in str(raised.value)
