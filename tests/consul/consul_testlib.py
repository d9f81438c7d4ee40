"""Test support of the Consul tests: where to send requests, and the emulator's controls.

``consul_target`` is a real Consul agent when ``CONSUL_HTTP_ADDR`` is set (with
``CONSUL_HTTP_TOKEN`` if it enforces ACLs), else the Consul side of the emulator (the
``nomad_emulator`` fixture of the emulator's pytest plugin). Tests that need the emulator's
controls (flip ``serfHealth``, set a check, faults, request counters, another datacenter,
limited tokens) take ``consul_emulator`` and only ever run against the emulator.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import consul
import httpx
import pytest
from cryptography import x509
from pki_testlib import CLIENT_AUTH, LOOPBACK, SERVER_AUTH, CertificateAuthority, write_pem

from airflow_provider_nomad.testing import Emulator
from airflow_provider_nomad.testing.consul import ConsulControl

REAL_CONSUL_ADDR = os.environ.get("CONSUL_HTTP_ADDR")
REAL_CONSUL_TOKEN = os.environ.get("CONSUL_HTTP_TOKEN")
#: Seconds after which a wait gives up so that a hung test ends. Only a bound: no step is
#: expected to take anywhere near this, on however loaded a machine.
HANG_BOUND = 300.0
#: How soon a helper waiting for a parked query notices it is no longer needed. Each wait of
#: this length returns at once when a query parks, so it never delays the helper's action.
_NOTICE_WITHIN = 1.0


@dataclass
class ConsulEmulator:
    """The emulator's Consul API and its controls.

    :param emulator: the running emulator (its ``control`` counts requests and injects faults).
    :param consul: the Consul side's own controls (``/_emulator/consul/``).
    """

    emulator: Emulator
    consul: ConsulControl

    @property
    def addr(self) -> str:
        return self.emulator.consul_addr

    @property
    def token(self) -> str | None:
        return self.emulator.token

    def request_count(self, route: str) -> int:
        """Requests served on a route template, e.g. ``GET /v1/health/service/:service``."""
        return self.emulator.control.request_counts(service="consul").get(route, 0)

    def inject_fault(
        self,
        route: str,
        *,
        status: int = 500,
        body: str = "No cluster leader",
        count: int = 1,
        drop: bool = False,
    ) -> None:
        self.emulator.control.inject_fault(
            route=route, status=status, body=body, count=count, drop=drop, service="consul"
        )


@dataclass
class ConsulTarget:
    """Where the contract tests send requests: a real agent or the emulator."""

    addr: str
    token: str | None
    emulator: ConsulEmulator | None

    def client(self, token: str | None = "<target>") -> consul.Consul:
        """Unmodified py-consul pointed at the target (used to set up and inspect state)."""
        parts = urlsplit(self.addr)
        value = self.token if token == "<target>" else token
        client = consul.Consul(host=parts.hostname, port=parts.port, scheme=parts.scheme)
        client.token = value  # never the developer's CONSUL_HTTP_TOKEN by accident
        return client


@contextmanager
def once_a_query_parks(
    control: ConsulControl, action: Callable[[], None]
) -> Iterator[threading.Event]:
    """Run ``action`` from a helper thread as soon as a client parks in a blocking query.

    The helper waits on the emulator's own event (a query parked), however long the code under
    test takes to get there, up to :data:`HANG_BOUND`. Leaving the block stops the helper (the
    code under test ended, or failed, without parking) and re-raises what ``action`` raised.
    Yields an event that is set once ``action`` ran.
    """
    acted = threading.Event()
    leaving = threading.Event()
    failures: list[BaseException] = []

    def helper() -> None:
        deadline = time.monotonic() + HANG_BOUND
        try:
            while not leaving.is_set() and time.monotonic() < deadline:
                if control.wait_for_blocked_queries(1, timeout=_NOTICE_WITHIN):
                    action()
                    acted.set()
                    return
        except BaseException as exc:  # handed to the test's thread below
            failures.append(exc)

    thread = threading.Thread(target=helper, name="once-a-query-parks", daemon=True)
    thread.start()
    try:
        yield acted
    finally:
        leaving.set()
        thread.join()
    if failures:
        raise failures[0]


def cleanup_real(target: ConsulTarget) -> None:
    """Deregister what the tests registered on a shared real agent (IDs start with ``t-``)."""
    client = target.client()
    for service_id in list(client.agent.services()):
        if service_id.startswith("t-"):
            client.agent.service.deregister(service_id)


def unique(prefix: str = "svc") -> str:
    """A service name/ID no other test uses (a real agent is shared across tests)."""
    return f"t-{prefix}-{uuid.uuid4().hex[:8]}"


def connection_env(monkeypatch: pytest.MonkeyPatch, conn_id: str, addr: str, **fields: Any) -> None:
    """Define an Airflow connection of type ``consul`` through ``AIRFLOW_CONN_<ID>``."""
    parts = urlsplit(addr)
    payload: dict[str, Any] = {
        "conn_type": "consul",
        "host": f"{parts.scheme}://{parts.hostname}",
        "port": parts.port,
    }
    extra = fields.pop("extra", None)
    payload.update({k: v for k, v in fields.items() if v is not None})
    if extra:
        payload["extra"] = extra
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(payload))


def logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> str:
    """Everything logged so far: stdlib records and Airflow's structlog output."""
    captured = capsys.readouterr()
    return "\n".join([caplog.text, captured.out, captured.err])


@dataclass(frozen=True)
class TlsFiles:
    """A private CA and certificates it signed, as PEM files."""

    ca: str
    #: server certificate for 127.0.0.1 and localhost
    server_cert: str
    server_key: str
    #: server certificate only for server.dc1.consul (Consul's own naming)
    named_cert: str
    named_key: str
    client_cert: str
    client_key: str
    client_key_pem: str


def make_tls_files(directory) -> TlsFiles:
    """Generate a CA, two server certificates and a client certificate under ``directory``."""
    ca = CertificateAuthority("Consul Test CA")
    server = ca.issue("127.0.0.1", SERVER_AUTH, LOOPBACK)
    named = ca.issue("server.dc1.consul", SERVER_AUTH, [x509.DNSName("server.dc1.consul")])
    client = ca.issue("airflow", CLIENT_AUTH, [x509.DNSName("airflow")])
    return TlsFiles(
        ca=write_pem(directory, "ca.pem", ca.cert_pem),
        server_cert=write_pem(directory, "server.pem", server[0]),
        server_key=write_pem(directory, "server-key.pem", server[1]),
        named_cert=write_pem(directory, "named.pem", named[0]),
        named_key=write_pem(directory, "named-key.pem", named[1]),
        client_cert=write_pem(directory, "client.pem", client[0]),
        client_key=write_pem(directory, "client-key.pem", client[1]),
        client_key_pem=client[1],
    )


def register(http: httpx.Client, body: dict) -> None:
    """Register a service with the agent (``/v1/agent/service/register``), as a test's setup."""
    response = http.put("/v1/agent/service/register", json=body)
    assert response.status_code == 200, response.text
