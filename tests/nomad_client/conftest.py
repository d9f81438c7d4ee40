"""Fixtures of the client-layer tests: TLS material and a small TLS server on loopback."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsMaterial:
    ca_path: str
    ca_pem: str
    #: server certificate valid for 127.0.0.1 and localhost
    server_cert: str
    server_key: str
    #: server certificate valid only for server.global.nomad (Nomad's own naming)
    nomad_name_cert: str
    nomad_name_key: str
    client_cert: str
    client_key: str
    client_cert_pem: str
    client_key_pem: str
    #: a CA that signed nothing here
    other_ca_path: str


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    name: str,
    sans: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
) -> tuple[str, str]:
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    directory = tmp_path_factory.mktemp("tls")
    ca, ca_key = _ca("Test Nomad CA")
    other_ca, _ = _ca("Some Other CA")
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    loopback = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost"),
    ]
    server = _leaf(ca, ca_key, "localhost", loopback, ExtendedKeyUsageOID.SERVER_AUTH)
    nomad_name = _leaf(
        ca,
        ca_key,
        "server.global.nomad",
        [x509.DNSName("server.global.nomad")],
        ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client = _leaf(
        ca, ca_key, "airflow", [x509.DNSName("airflow")], ExtendedKeyUsageOID.CLIENT_AUTH
    )

    def write(name: str, text: str) -> str:
        path = directory / name
        path.write_text(text)
        return str(path)

    return TlsMaterial(
        ca_path=write("ca.pem", ca_pem),
        ca_pem=ca_pem,
        server_cert=write("server.pem", server[0]),
        server_key=write("server-key.pem", server[1]),
        nomad_name_cert=write("nomad-name.pem", nomad_name[0]),
        nomad_name_key=write("nomad-name-key.pem", nomad_name[1]),
        client_cert=write("client.pem", client[0]),
        client_key=write("client-key.pem", client[1]),
        client_cert_pem=client[0],
        client_key_pem=client[1],
        other_ca_path=write(
            "other-ca.pem", other_ca.public_bytes(serialization.Encoding.PEM).decode()
        ),
    )


class _JobsHandler(BaseHTTPRequestHandler):
    """Answers ``GET /v1/jobs`` like Nomad (an empty list) and records what it was sent."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.seen.append(  # type: ignore[attr-defined]
            {"path": self.path, "headers": dict(self.headers), "peer_cert": self._peer_cert()}
        )
        if self.path.startswith("/v1/job/echo-token"):
            # A server whose error text quotes the token: it must never reach our messages.
            token = self.headers.get("X-Nomad-Token", "")
            self._answer(500, f"rpc error: token {token}: Permission denied".encode(), "text/plain")
        else:
            self._answer(200, json.dumps([]).encode(), "application/json")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("X-Nomad-Index", "7")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _peer_cert(self) -> dict | None:
        getpeercert = getattr(self.connection, "getpeercert", None)
        return getpeercert() if getpeercert else None

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@dataclass
class TlsServer:
    address: str
    seen: list[dict]


def _serve(
    cert: str | None, key: str | None, *, client_ca: str | None = None
) -> Iterator[TlsServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JobsHandler)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    scheme = "http"
    if cert and key:
        scheme = "https"
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield TlsServer(f"{scheme}://127.0.0.1:{server.server_port}", server.seen)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def plain_server() -> Iterator[TlsServer]:
    """Plain HTTP on loopback answering /v1/jobs, recording requests."""
    yield from _serve(None, None)


@pytest.fixture
def tls_server(tls_material: TlsMaterial) -> Iterator[TlsServer]:
    """HTTPS on loopback with a certificate for 127.0.0.1 signed by the test CA."""
    yield from _serve(tls_material.server_cert, tls_material.server_key)


@pytest.fixture
def tls_server_nomad_name(tls_material: TlsMaterial) -> Iterator[TlsServer]:
    """HTTPS on loopback presenting a certificate for server.global.nomad only."""
    yield from _serve(tls_material.nomad_name_cert, tls_material.nomad_name_key)


@pytest.fixture
def mtls_server(tls_material: TlsMaterial) -> Iterator[TlsServer]:
    """HTTPS on loopback that requires a client certificate signed by the test CA."""
    yield from _serve(
        tls_material.server_cert, tls_material.server_key, client_ca=tls_material.ca_path
    )


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


__all__ = ["Path", "TlsMaterial", "TlsServer"]
