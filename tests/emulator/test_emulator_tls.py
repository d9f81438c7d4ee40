"""HTTPS on both ports, and mTLS when a CA is given."""

from __future__ import annotations

import ssl

import httpx
import pytest
from pki_testlib import CLIENT_AUTH, LOOPBACK, SERVER_AUTH, CertificateAuthority, write_pem

from airflow_provider_nomad.testing import Emulator


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    out = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority("emulator test CA")
    paths = {"ca": write_pem(out, "ca.pem", ca.cert_pem)}
    issued = {
        "server": ca.issue("server", SERVER_AUTH, LOOPBACK),
        "client": ca.issue("client", CLIENT_AUTH),
    }
    for label, (cert, key) in issued.items():
        paths[label] = write_pem(out, f"{label}.pem", cert)
        paths[f"{label}_key"] = write_pem(out, f"{label}-key.pem", key)
    return paths


def test_https_on_both_ports(pki):
    with Emulator(tls_cert=pki["server"], tls_key=pki["server_key"]) as emu:
        assert emu.nomad_addr.startswith("https://") and emu.consul_addr.startswith("https://")
        trust = ssl.create_default_context(cafile=pki["ca"])
        response = httpx.get(f"{emu.nomad_addr}/v1/status/leader", verify=trust)
        assert response.status_code == 200
        consul = httpx.get(f"{emu.consul_addr}/v1/health/service/web", verify=trust)
        assert consul.status_code in (200, 404)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{emu.nomad_addr}/v1/status/leader")  # untrusted without the CA
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(emu.nomad_addr.replace("https://", "http://") + "/v1/status/leader")


def test_mtls_requires_a_client_certificate(pki):
    client_cert = (pki["client"], pki["client_key"])
    with Emulator(
        tls_cert=pki["server"], tls_key=pki["server_key"], tls_ca=pki["ca"], client_cert=client_cert
    ) as emu:
        url = f"{emu.nomad_addr}/v1/status/leader"
        with_cert = ssl.create_default_context(cafile=pki["ca"])
        with_cert.load_cert_chain(*client_cert)
        assert httpx.get(url, verify=with_cert).status_code == 200
        without_cert = ssl.create_default_context(cafile=pki["ca"])
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(url, verify=without_cert)
        assert emu.control.health()["ok"] is True
