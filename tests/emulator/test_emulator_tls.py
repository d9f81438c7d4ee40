"""HTTPS on both ports, and mTLS when a CA is given."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from airflow_provider_nomad.testing import Emulator


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _issue(ca_key, ca_name, common_name: str, usage, san=None):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    out = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("emulator test CA")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server_key, server = _issue(ca_key, ca_name, "server", ExtendedKeyUsageOID.SERVER_AUTH, san)
    client_key, client = _issue(ca_key, ca_name, "client", ExtendedKeyUsageOID.CLIENT_AUTH)
    paths = {}
    for label, cert, key in (("server", server, server_key), ("client", client, client_key)):
        (out / f"{label}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(out / f"{label}-key.pem", key)
        paths[label] = str(out / f"{label}.pem")
        paths[f"{label}_key"] = str(out / f"{label}-key.pem")
    (out / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["ca"] = str(out / "ca.pem")
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
