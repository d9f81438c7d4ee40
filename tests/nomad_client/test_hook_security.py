"""What the hooks never do with a production token, over real HTTP on loopback.

Small ``http.server`` doubles stand in for the agents (and for what may sit in front of them: a
redirecting proxy, a proxy's HTML page); a second server on another loopback address plays the
foreign host a redirect points at, and records anything that reaches it. Each test holds for the
sync hooks (python-nomad, py-consul) and the async hooks (httpx) alike.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_nomad import connection
from airflow_provider_nomad.exceptions import (
    ConsulRedirectError,
    NomadRedirectError,
    NomadTlsError,
)
from airflow_provider_nomad.hooks.consul import ConsulAsyncHook, ConsulHook
from airflow_provider_nomad.hooks.nomad import NomadAsyncHook, NomadHook
from airflow_provider_nomad.retry import RetryPolicy

TOKEN = "8d7c6b5a-4e3f-4a1b-9c8d-7e6f5a4b3c2d"
FAST = RetryPolicy(max_attempts=3, max_delay=20, initial_wait=0.001, max_wait=0.002)

#: (status, headers, body) for one request
Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Server:
    """A loopback HTTP server answering every request through ``answer``, recording them."""

    address: str
    seen: list[dict] = field(default_factory=list)
    answer: Callable[[str, str], Answer] = lambda method, path: (200, {}, b"[]")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        server: Server = self.server.double  # type: ignore[attr-defined]
        server.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers)}
        )
        status, headers, body = server.answer(self.command, self.path)
        self.send_response(status)
        headers = {"Content-Type": "application/json", "X-Nomad-Index": "7", **headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(host: str) -> Iterator[Server]:
    httpd = ThreadingHTTPServer((host, 0), _Handler)
    httpd.daemon_threads = True
    double = Server(f"http://{host}:{httpd.server_port}")
    httpd.double = double  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield double
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def foreign_host() -> Iterator[Server]:
    """Another host (127.0.0.2) that must never see a request of ours."""
    yield from _serve("127.0.0.2")


@pytest.fixture
def agent() -> Iterator[Server]:
    yield from _serve("127.0.0.1")


@pytest.fixture
def redirecting_agent(agent: Server, foreign_host: Server) -> Server:
    """Answers every request with a 307 to the same path on the foreign host."""
    agent.answer = lambda method, path: (307, {"Location": foreign_host.address + path}, b"")
    return agent


def use_nomad(monkeypatch, address: str, **extra) -> None:
    conn = {"conn_type": "nomad", "host": address, "password": TOKEN, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_NOMAD_DEFAULT", json.dumps(conn))


def use_consul(monkeypatch, address: str, **extra) -> None:
    conn = {"conn_type": "consul", "host": address, "password": TOKEN, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_CONSUL_DEFAULT", json.dumps(conn))


# -- redirects: never followed, on any method, on either path ----------------------------------

SYNC_NOMAD_CALLS = {
    "stop_job (DELETE)": lambda hook: hook.stop_job("settle/dispatch-1"),
    "list_jobs (GET)": lambda hook: hook.list_jobs("settle"),
    "dispatch_job (POST)": lambda hook: hook.dispatch_job(
        "settle", meta={}, payload=None, id_prefix_template=None, idempotency_token="t"
    ),
    "read_log (GET, streamed)": lambda hook: list(hook.read_log("a1", "batch", "stdout")),
}


@pytest.mark.parametrize("call", SYNC_NOMAD_CALLS.values(), ids=SYNC_NOMAD_CALLS.keys())
def test_sync_nomad_never_follows_a_redirect(monkeypatch, redirecting_agent, foreign_host, call):
    use_nomad(monkeypatch, redirecting_agent.address)
    hook = NomadHook(retry_policy=FAST)
    with pytest.raises(NomadRedirectError) as info:
        call(hook)
    message = str(info.value)
    assert f"a redirect to {foreign_host.address}" in message
    assert "Redirects are never followed" in message
    assert TOKEN not in message
    assert foreign_host.seen == []
    assert len(redirecting_agent.seen) == 1  # a redirect is not retried either


def test_python_nomad_client_of_the_hook_never_follows_a_redirect(
    monkeypatch, redirecting_agent, foreign_host
):
    """DAG code calling python-nomad through ``get_conn()`` shares the hook's session."""
    use_nomad(monkeypatch, redirecting_agent.address)
    client = NomadHook().get_conn()
    for call in (
        lambda: client.job.deregister_job("settle"),  # python-nomad sends DELETE without
        lambda: client.job.get_job("settle"),  # allow_redirects
    ):
        with contextlib.suppress(Exception):  # python-nomad's reading of a 307 does not matter
            call()
    assert foreign_host.seen == []
    assert [r["method"] for r in redirecting_agent.seen] == ["DELETE", "GET"]


async def test_async_nomad_never_follows_a_redirect(monkeypatch, redirecting_agent, foreign_host):
    use_nomad(monkeypatch, redirecting_agent.address)
    async with NomadAsyncHook(retry_policy=FAST) as hook:
        for call in (hook.stop_job("settle/dispatch-1"), hook.get_job("settle")):
            with pytest.raises(NomadRedirectError, match=f"a redirect to {foreign_host.address}"):
                await call
    assert foreign_host.seen == []


def test_sync_consul_never_follows_a_redirect(monkeypatch, redirecting_agent, foreign_host):
    use_consul(monkeypatch, redirecting_agent.address)
    hook = ConsulHook(retry_policy=FAST)
    with pytest.raises(ConsulRedirectError) as info:
        hook.health_service("ledger-db")
    assert f"Consul at {redirecting_agent.address} answered" in str(info.value)
    assert TOKEN not in str(info.value)
    # py-consul's own calls through get_conn() share the same session.
    with contextlib.suppress(Exception):  # py-consul's reading of a 307 does not matter
        hook.get_conn().kv.get("prod/db-password")
    assert foreign_host.seen == []


async def test_async_consul_never_follows_a_redirect(monkeypatch, redirecting_agent, foreign_host):
    use_consul(monkeypatch, redirecting_agent.address)
    async with ConsulAsyncHook(retry_policy=FAST) as hook:
        with pytest.raises(ConsulRedirectError, match=f"a redirect to {foreign_host.address}"):
            await hook.health_service("ledger-db")
    assert foreign_host.seen == []


# -- Consul service names stay one path segment on the sync path -------------------------------


@pytest.mark.parametrize("hook_cls", [ConsulHook, ConsulAsyncHook])
async def test_service_name_with_slashes_stays_in_the_health_endpoint(monkeypatch, agent, hook_cls):
    use_consul(monkeypatch, agent.address)
    hook = hook_cls(retry_policy=FAST)
    name = "payments/kv/prod/db-password"  # names with "." or ".." steps are refused outright
    if hook_cls is ConsulHook:
        hook.health_service(name)
    else:
        async with hook:
            await hook.health_service(name)
    [request] = agent.seen
    path = urlsplit(request["path"]).path
    assert path == "/v1/health/service/payments%2Fkv%2Fprod%2Fdb-password"


# -- TLS: one trust source, one error mapping ---------------------------------------------------


@pytest.fixture
def fresh_ssl_contexts(monkeypatch):
    """Contexts are cached per TLS settings: a test that changes the trust store starts clean."""
    monkeypatch.setattr(connection, "_ssl_contexts", {})


def _list_sync() -> list:
    hook = NomadHook(retry_policy=FAST)
    try:
        return hook.list_jobs("x")
    finally:
        hook.close()


async def _list_async() -> list:
    async with NomadAsyncHook(retry_policy=FAST) as hook:
        return (await hook.get_job_evaluations("x"))[0]


async def test_wrong_server_name_is_the_same_tls_error_on_both_paths(
    monkeypatch, tls_server_nomad_name, tls_material
):
    use_nomad(
        monkeypatch,
        tls_server_nomad_name.address,
        ca_cert=tls_material.ca_path,
        tls_server_name="server.other.nomad",
    )
    with pytest.raises(NomadTlsError, match="is not trusted") as sync_error:
        _list_sync()
    with pytest.raises(NomadTlsError, match="is not trusted") as async_error:
        await _list_async()
    assert type(sync_error.value) is type(async_error.value)
    assert tls_server_nomad_name.seen == []  # refused at the handshake, and not retried


async def test_both_paths_trust_the_system_store_and_only_it(
    monkeypatch, tls_server, tls_material, fresh_ssl_contexts
):
    use_nomad(monkeypatch, tls_server.address.replace("127.0.0.1", "localhost"))
    # requests' own variable: the sync path used to trust it, the async path never did.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_material.ca_path)
    monkeypatch.setenv("CURL_CA_BUNDLE", tls_material.ca_path)
    with pytest.raises(NomadTlsError, match="is not trusted"):
        _list_sync()
    with pytest.raises(NomadTlsError, match="is not trusted"):
        await _list_async()
    # OpenSSL's system store (SSL_CERT_FILE stands in for a CA installed on the machine).
    monkeypatch.setattr(connection, "_ssl_contexts", {})
    monkeypatch.setenv("SSL_CERT_FILE", tls_material.ca_path)
    assert _list_sync() == []
    assert await _list_async() == []


async def test_netrc_credentials_are_never_sent(monkeypatch, tmp_path, agent):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login ops password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    use_nomad(monkeypatch, agent.address)
    _list_sync()
    await _list_async()
    assert len(agent.seen) == 2
    assert all("Authorization" not in request["headers"] for request in agent.seen)


async def test_proxy_variables_are_ignored(monkeypatch, agent, foreign_host):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, foreign_host.address)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    use_nomad(monkeypatch, agent.address)
    _list_sync()
    await _list_async()
    assert foreign_host.seen == []
    assert len(agent.seen) == 2


# -- the plain log read takes only log bytes ----------------------------------------------------

PROXY_PAGE = b"<html><body>Please sign in to the corporate proxy</body></html>"
LOG = b"settled 42 trades\nledger balanced\n"


@pytest.fixture
def log_behind_a_proxy_page(agent: Server) -> Server:
    """Plain reads get a proxy's HTML page (200); framed reads get the real log."""

    def answer(method: str, path: str) -> Answer:
        query = parse_qs(urlsplit(path).query)
        if query.get("plain") == ["true"]:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, PROXY_PAGE
        frame = {"Offset": 0, "Data": base64.b64encode(LOG).decode(), "File": "x.stdout.0"}
        return 200, {}, json.dumps(frame).encode()

    agent.answer = answer
    return agent


def test_sync_plain_log_read_refuses_a_foreign_page(monkeypatch, log_behind_a_proxy_page):
    use_nomad(monkeypatch, log_behind_a_proxy_page.address)
    data = b"".join(NomadHook(retry_policy=FAST).read_log("a1", "batch", "stdout"))
    assert data == LOG
    assert [
        parse_qs(urlsplit(r["path"]).query).get("plain") for r in log_behind_a_proxy_page.seen
    ] == [
        ["true"],
        ["false"],
    ]


async def test_async_plain_log_read_refuses_a_foreign_page(monkeypatch, log_behind_a_proxy_page):
    use_nomad(monkeypatch, log_behind_a_proxy_page.address)
    async with NomadAsyncHook(retry_policy=FAST) as hook:
        frames = hook.stream_logs("a1", "batch", "stdout", offset=0, follow=False, plain=True)
        data = b"".join([frame.data async for frame in frames])
    assert data == LOG


def test_binary_log_bytes_are_log_bytes(monkeypatch, agent):
    """Go sniffs binary output as application/octet-stream: still the batch's own bytes."""
    agent.answer = lambda method, path: (
        200,
        {"Content-Type": "application/octet-stream"},
        b"\x00\x01",
    )
    use_nomad(monkeypatch, agent.address)
    assert b"".join(NomadHook(retry_policy=FAST).read_log("a1", "batch", "stdout")) == b"\x00\x01"
    assert len(agent.seen) == 1


# -- a connection test answers in seconds ------------------------------------------------------


def _no_leader(method: str, path: str) -> Answer:
    return 500, {"Content-Type": "text/plain"}, b"No cluster leader"


@pytest.mark.parametrize("service", ["nomad", "consul"])
def test_connection_test_makes_one_attempt(monkeypatch, agent, service):
    """A task retries a leaderless cluster for a minute; the connection form must not wait."""
    agent.answer = _no_leader
    if service == "nomad":
        use_nomad(monkeypatch, agent.address)
        hook = NomadHook()
    else:
        use_consul(monkeypatch, agent.address)
        hook = ConsulHook()
    ok, message = hook.test_connection()
    assert not ok
    assert "No cluster leader" in message
    assert len(agent.seen) == 1


def test_connection_test_names_an_unreachable_agent(monkeypatch, closed_port):
    use_nomad(monkeypatch, f"http://127.0.0.1:{closed_port}")
    ok, message = NomadHook().test_connection()
    assert not ok
    assert f"Cannot reach Nomad at http://127.0.0.1:{closed_port}" in message
