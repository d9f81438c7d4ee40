"""Fixtures of the client-layer tests: TLS material and a small TLS server on loopback."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from pki_testlib import CLIENT_AUTH, LOOPBACK, SERVER_AUTH, CertificateAuthority, write_pem


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


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    directory = tmp_path_factory.mktemp("tls")
    ca = CertificateAuthority("Test Nomad CA")
    other_ca = CertificateAuthority("Some Other CA")
    server = ca.issue("localhost", SERVER_AUTH, LOOPBACK)
    nomad_name = ca.issue("server.global.nomad", SERVER_AUTH, [x509.DNSName("server.global.nomad")])
    client = ca.issue("airflow", CLIENT_AUTH, [x509.DNSName("airflow")])
    return TlsMaterial(
        ca_path=write_pem(directory, "ca.pem", ca.cert_pem),
        ca_pem=ca.cert_pem,
        server_cert=write_pem(directory, "server.pem", server[0]),
        server_key=write_pem(directory, "server-key.pem", server[1]),
        nomad_name_cert=write_pem(directory, "nomad-name.pem", nomad_name[0]),
        nomad_name_key=write_pem(directory, "nomad-name-key.pem", nomad_name[1]),
        client_cert=write_pem(directory, "client.pem", client[0]),
        client_key=write_pem(directory, "client-key.pem", client[1]),
        client_cert_pem=client[0],
        client_key_pem=client[1],
        other_ca_path=write_pem(directory, "other-ca.pem", other_ca.cert_pem),
    )


class _JobsHandler(BaseHTTPRequestHandler):
    """Answers ``GET /v1/jobs`` like Nomad (an empty list) and records what it was sent."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.seen.append(  # type: ignore[attr-defined]
            {
                "path": self.path,
                "headers": dict(self.headers),
                "peer_cert": self._peer_cert(),
                "peer": self.client_address,
            }
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
