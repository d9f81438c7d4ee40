"""Hooks for HashiCorp Consul: :class:`ConsulHook` (sync) and :class:`ConsulAsyncHook` (async).

Both build their requests with :mod:`airflow_provider_nomad.consul.requests`, judge health with
:mod:`airflow_provider_nomad.consul.health`, retry with the shared policy of
:mod:`airflow_provider_nomad.retry` and map errors with
:func:`~airflow_provider_nomad.exceptions.consul_error_for_response`; only the I/O differs. The
sync hook sends through py-consul's HTTP client (its connection pool, TLS settings and
timeouts), the async hook through one ``httpx.AsyncClient`` so a trigger never blocks the
triggerer's event loop.

The connection is the only source of settings: py-consul lets the ``CONSUL_HTTP_TOKEN``
environment variable override an explicit token, and the sync hook undoes that. The token
travels in the ``X-Consul-Token`` header only and never appears in messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
from collections.abc import Iterable
from functools import cached_property
from typing import Any
from urllib.parse import unquote, urlsplit

import consul
import httpx
import requests
from airflow.sdk import BaseHook
from requests.adapters import HTTPAdapter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from airflow_provider_nomad.connection import (
    USER_AGENT,
    ClientSettings,
    consul_settings_from_connection,
    httpx_client_kwargs,
)
from airflow_provider_nomad.consul import requests as api
from airflow_provider_nomad.consul.health import HealthReport, parse_instances
from airflow_provider_nomad.exceptions import (
    ConsulApiError,
    ConsulConnectionError,
    ConsulTlsError,
    ConsulUnexpectedResponseError,
    ConsulUnreachableError,
    NomadProviderError,
    consul_error_for_response,
)
from airflow_provider_nomad.retry import DEFAULT_RETRY_POLICY, RetryPolicy, is_retryable

__all__ = ["ConsulAsyncHook", "ConsulHook", "ConsulResponse"]

TOKEN_HEADER = "X-Consul-Token"
_REDACTED = "<redacted>"


class ConsulResponse:
    """The parts of an answer the hooks use, whichever HTTP client fetched it.

    :param status: HTTP status code.
    :param headers: response headers (case-insensitive mapping).
    :param text: body text.
    """

    def __init__(self, status: int, headers: Any, text: str) -> None:
        self.status = status
        self.headers = headers
        self.text = text

    @property
    def index(self) -> int:
        """``X-Consul-Index`` (0 when absent or malformed)."""
        try:
            return int(self.headers.get("X-Consul-Index") or 0)
        except ValueError:
            return 0

    @property
    def filtered_by_acls(self) -> bool:
        """``X-Consul-Results-Filtered-By-ACLs: true``: ACLs removed some results."""
        return str(self.headers.get("X-Consul-Results-Filtered-By-ACLs", "")).lower() == "true"


# --- shared by both hooks ---------------------------------------------------------------------


def _error_chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (causes, contexts, urllib3 reasons, args)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        for nxt in (
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
            *getattr(current, "args", ()),
        ):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return seen


def consul_transport_error(
    exc: BaseException, settings: ClientSettings, request: api.ConsulRequest, read_timeout: float
) -> ConsulConnectionError:
    """Turn a requests/urllib3/httpx transport failure into a typed, token-free error.

    :param exc: the low-level error.
    :param settings: the client settings (for the address).
    :param request: the request that failed.
    :param read_timeout: the read timeout it ran with, to name it.
    """
    address, what = settings.base_url, request.description
    chain = _error_chain(exc)
    names = {type(e).__name__ for e in chain}
    cert_error = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
    if cert_error is not None:
        reason = cert_error.verify_message or str(cert_error)
        return ConsulTlsError(
            f"TLS: the certificate of Consul at {address} is not trusted ({reason}) during "
            f"{what}. If the cluster uses a private CA, set the connection's ca_cert extra to "
            "that CA (file path or PEM text); if the certificate names another host (Consul "
            "agents use server.<datacenter>.<domain>), set tls_server_name to that name"
        )
    tls_error = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls_error is not None:
        reason = getattr(tls_error, "reason", None) or str(tls_error)
        hint = (
            " Is the scheme right? The agent may not speak TLS (use http://)."
            if "WRONG_VERSION_NUMBER" in str(reason).upper()
            else " If the agent requires mutual TLS, set client_cert and client_key."
        )
        return ConsulTlsError(
            f"TLS handshake with Consul at {address} failed ({reason}) during {what}.{hint}"
        )
    if names & {"ConnectTimeout", "ConnectTimeoutError", "PoolTimeout"}:
        return ConsulUnreachableError(
            f"Cannot reach Consul at {address}: no connection within {settings.timeout:g} s "
            f"({what}). Check the connection's host and port, and the network path to it",
            request_sent=False,
        )
    if names & {"ReadTimeout", "ReadTimeoutError", "TimeoutError", "WriteTimeout", "timeout"}:
        return ConsulUnreachableError(
            f"Consul at {address} did not answer {what} within {read_timeout:g} s",
            request_sent=True,
        )
    gai = next((e for e in chain if isinstance(e, socket.gaierror)), None)
    if gai is not None:
        return ConsulUnreachableError(
            f"Cannot reach Consul at {address}: the host name does not resolve "
            f"({gai.strerror or gai}) ({what}). Check the connection's host",
            request_sent=False,
        )
    refused = next((e for e in chain if isinstance(e, ConnectionRefusedError)), None)
    if refused is not None or names & {"NewConnectionError", "ConnectError"}:
        reason = (refused.strerror if refused else None) or "connection failed"
        return ConsulUnreachableError(
            f"Cannot reach Consul at {address}: {reason.lower()} ({what}). Check the "
            "connection's host, port and scheme, and that the Consul agent is running",
            request_sent=False,
        )
    innermost = chain[-1] if chain else exc
    # Under TLS 1.3 a server that wants a client certificate hangs up after the handshake.
    hint = (
        "; if the agent requires mutual TLS, set the connection's client_cert and client_key"
        if settings.is_tls and not settings.cert
        else ""
    )
    return ConsulUnreachableError(
        f"Connection to Consul at {address} dropped during {what} "
        f"({type(innermost).__name__}){hint}",
        request_sent=True,
    )


def _retry_kwargs(
    policy: RetryPolicy, what: str, log: logging.Logger, extra_delay: float
) -> dict[str, Any]:
    """The shared policy's bounds and predicate, with a log line that names Consul."""

    def log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "Consul %s failed (%s); retrying in %.1f s (attempt %d of %d)",
            what,
            exc,
            wait,
            state.attempt_number + 1,
            policy.max_attempts,
        )

    return {
        "stop": stop_after_attempt(policy.max_attempts)
        | stop_after_delay(policy.max_delay + extra_delay),
        "wait": wait_exponential_jitter(
            initial=policy.initial_wait, max=policy.max_wait, jitter=policy.initial_wait
        ),
        "retry": retry_if_exception(is_retryable),
        "before_sleep": log_retry,
        "reraise": True,
    }


class _ConsulHookMixin:
    """What the sync and the async hook share: identity, arguments, errors, reports."""

    conn_name_attr = "consul_conn_id"
    default_conn_name = "consul_default"
    conn_type = "consul"
    hook_name = "Consul"

    consul_conn_id: str
    datacenter: str | None
    timeout: float | None
    retry_policy: RetryPolicy

    def _init_args(
        self,
        consul_conn_id: str,
        datacenter: str | None,
        timeout: float | None,
        retry_policy: RetryPolicy | None,
    ) -> None:
        self.consul_conn_id = consul_conn_id
        self.datacenter = datacenter
        self.timeout = timeout
        self.retry_policy = retry_policy or DEFAULT_RETRY_POLICY

    def __repr__(self) -> str:
        return f"{type(self).__name__}(consul_conn_id={self.consul_conn_id!r})"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form: the token goes in the password field; TLS in the extras."""
        return {
            "hidden_fields": ["login", "extra"],
            "relabeling": {
                "host": "Address",
                "schema": "Scheme (http or https)",
                "password": "ACL token",
            },
            "placeholders": {
                "host": "https://consul.example.internal",
                "port": "8500",
                "schema": "https",
                "password": "Consul ACL token secret ID",
            },
        }

    def _settings_from(self, conn: Any) -> ClientSettings:
        return consul_settings_from_connection(
            conn,
            datacenter=self.datacenter,
            timeout=self.timeout,
            error_cls=ConsulConnectionError,
        )

    def _api_error(
        self, settings: ClientSettings, response: ConsulResponse, request: api.ConsulRequest
    ) -> ConsulApiError:
        text = response.text
        if settings.token and settings.token in text:
            text = text.replace(settings.token, _REDACTED)
        return consul_error_for_response(
            response.status, text, request.method, request.path, conn_id=self.consul_conn_id
        )

    @staticmethod
    def _read_timeout(settings: ClientSettings, request: api.ConsulRequest) -> float:
        return api.blocking_read_timeout(request.wait, settings.timeout)

    @staticmethod
    def _decode_json(
        settings: ClientSettings, response: ConsulResponse, request: api.ConsulRequest
    ) -> Any:
        try:
            return json.loads(response.text)
        except ValueError:
            snippet = response.text[:200] if response.text else "(empty body)"
            raise ConsulUnexpectedResponseError(
                f"Expected JSON from Consul at {settings.base_url} for {request.description}, "
                f"got: {snippet}"
            ) from None

    @staticmethod
    def _health_request(
        settings: ClientSettings,
        service: str,
        tags: Iterable[str],
        filter_expr: str | None,
        index: int | None,
        wait: float | None,
    ) -> api.ConsulRequest:
        return api.health_service(
            service,
            tags=tuple(tags),
            datacenter=settings.datacenter,
            filter_expr=filter_expr,
            index=index,
            wait=wait,
        )

    @staticmethod
    def _report(
        settings: ClientSettings,
        service: str,
        tags: Iterable[str],
        filter_expr: str | None,
        treat_warning_as_passing: bool,
        health: ConsulResponse,
        entries: Any,
        catalog: ConsulResponse | None,
        catalog_entries: Any,
    ) -> HealthReport:
        instances = parse_instances(entries or [])
        return HealthReport(
            service=service,
            datacenter=settings.datacenter,
            index=health.index,
            instances=instances,
            treat_warning_as_passing=treat_warning_as_passing,
            service_exists=None if catalog is None else bool(catalog_entries),
            filtered_by_acls=health.filtered_by_acls
            or bool(catalog is not None and catalog.filtered_by_acls),
            anonymous=settings.token is None,
            tags=tuple(tags),
            filter_expr=filter_expr,
        )


# --- sync -------------------------------------------------------------------------------------


class _ServerNameAdapter(HTTPAdapter):
    """requests adapter checking the certificate against (and sending as SNI) a fixed name."""

    def __init__(self, server_name: str, **kwargs: Any) -> None:
        self._server_name = server_name
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._server_name
        kwargs["assert_hostname"] = self._server_name
        super().init_poolmanager(*args, **kwargs)


class ConsulHook(_ConsulHookMixin, BaseHook):
    """Talk to Consul from a worker, through py-consul.

    :param consul_conn_id: Airflow connection of type ``consul``.
    :param datacenter: Consul datacenter; overrides the connection's ``datacenter`` extra.
    :param timeout: connect/read timeout in seconds of calls that are not blocking queries.
    :param retry_policy: bounds of retries of transient failures.
    """

    def __init__(
        self,
        consul_conn_id: str = _ConsulHookMixin.default_conn_name,
        datacenter: str | None = None,
        timeout: float | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self._init_args(consul_conn_id, datacenter, timeout, retry_policy)
        self._client: consul.Consul | None = None

    @cached_property
    def settings(self) -> ClientSettings:
        """The connection's settings, with this hook's overrides applied."""
        return self._settings_from(self.get_connection(self.consul_conn_id))

    def get_conn(self) -> consul.Consul:
        """A ``consul.Consul`` client set up from the connection alone (TLS verified by default).

        py-consul reads ``CONSUL_HTTP_TOKEN`` in preference to the token it is given; the
        client's token is reset to the connection's so the environment never overrides it.
        """
        if self._client is None:
            settings = self.settings
            parts = urlsplit(settings.base_url)
            client = consul.Consul(
                host=parts.hostname,
                port=parts.port,
                scheme=parts.scheme,
                token=settings.token,
                dc=settings.datacenter,
                verify=settings.verify,
                cert=settings.cert,
                connections_timeout=settings.timeout,
            )
            client.token = settings.token
            pool = client.http.session
            pool.headers["User-Agent"] = USER_AGENT
            if settings.tls_server_name and settings.is_tls:
                pool.mount("https://", _ServerNameAdapter(settings.tls_server_name))
            self._client = client
        return self._client

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        if self._client is not None:
            self._client.http.session.close()
            self._client = None

    # -- transport --

    def _send_once(self, request: api.ConsulRequest) -> ConsulResponse:
        settings = self.settings
        client = self.get_conn()
        headers = {TOKEN_HEADER: settings.token} if settings.token else {}
        read_timeout = self._read_timeout(settings, request)
        try:
            # py-consul's raw GET: its connection pool and TLS settings, its blocking-query timeout
            # (wait + wait/16 + connections_timeout), and the answer untouched by its callbacks.
            raw = client.http.get(
                lambda response: response,
                unquote(request.path),
                params=list(request.params),
                headers=headers,
            )
        except requests.RequestException as exc:
            raise consul_transport_error(exc, settings, request, read_timeout) from None
        response = ConsulResponse(raw.code, raw.headers, raw.body)
        if response.status >= 400:
            raise self._api_error(settings, response, request)
        return response

    def _send(self, request: api.ConsulRequest) -> ConsulResponse:
        kwargs = _retry_kwargs(
            self.retry_policy, request.description, self.log, request.wait or 0.0
        )
        for attempt in Retrying(**kwargs):
            with attempt:
                return self._send_once(request)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _json(self, request: api.ConsulRequest) -> tuple[ConsulResponse, Any]:
        response = self._send(request)
        return response, self._decode_json(self.settings, response, request)

    # -- API --

    def health_service(
        self,
        service: str,
        *,
        tags: Iterable[str] = (),
        filter_expr: str | None = None,
        index: int | None = None,
        wait: float | None = None,
    ) -> tuple[list[dict], int]:
        """Instances of a service with their checks, and ``X-Consul-Index``.

        :param service: the service name.
        :param tags: only instances carrying all these tags.
        :param filter_expr: a Consul ``filter`` expression (e.g. ``Service.Meta.env == "prod"``).
        :param index: block until the service's index passes this one.
        :param wait: longest wait in seconds of the blocking query (Consul caps it at 600).
        """
        request = self._health_request(self.settings, service, tags, filter_expr, index, wait)
        response, entries = self._json(request)
        return entries, response.index

    def health_report(
        self,
        service: str,
        *,
        tags: Iterable[str] = (),
        filter_expr: str | None = None,
        treat_warning_as_passing: bool = False,
        index: int | None = None,
        wait: float | None = None,
    ) -> HealthReport:
        """The health of a service's instances; when none match, whether the service exists.

        Same arguments as :meth:`health_service`, plus ``treat_warning_as_passing``.
        """
        settings = self.settings
        tags = tuple(tags)
        request = self._health_request(settings, service, tags, filter_expr, index, wait)
        health, entries = self._json(request)
        catalog, catalog_entries = None, None
        if not entries:
            lookup = api.catalog_service(service, datacenter=settings.datacenter)
            catalog, catalog_entries = self._json(lookup)
        return self._report(
            settings,
            service,
            tags,
            filter_expr,
            treat_warning_as_passing,
            health,
            entries,
            catalog,
            catalog_entries,
        )

    def service_exists(self, service: str) -> bool:
        """Whether the catalog lists at least one instance of ``service`` the token may read."""
        _, entries = self._json(api.catalog_service(service, datacenter=self.settings.datacenter))
        return bool(entries)

    def leader(self) -> str:
        """Address of the Raft leader of the datacenter (``host:port``)."""
        _, leader = self._json(api.status_leader(datacenter=self.settings.datacenter))
        return str(leader)

    def test_connection(self) -> tuple[bool, str]:
        """Check address, TLS, datacenter and token: ask for the leader, then read the catalog."""
        try:
            settings = self.settings
            leader = self.leader()
            if not leader:
                return False, f"Consul at {settings.base_url} answers but knows no leader"
            self.service_exists("consul")
        except NomadProviderError as exc:
            return False, str(exc)
        where = f"datacenter {settings.datacenter!r}" if settings.datacenter else "its datacenter"
        return True, f"Connected to Consul at {settings.base_url} ({where}, leader {leader})"


# --- async ------------------------------------------------------------------------------------


class ConsulAsyncHook(_ConsulHookMixin, BaseHook):
    """Talk to Consul from the triggerer's event loop (httpx), never blocking it.

    Use as ``async with ConsulAsyncHook(...) as hook:`` or call :meth:`aclose`: one
    ``httpx.AsyncClient`` per hook keeps connections alive between blocking queries.

    :param consul_conn_id: Airflow connection of type ``consul``.
    :param datacenter: Consul datacenter; overrides the connection's ``datacenter`` extra.
    :param timeout: connect/read timeout in seconds of calls that are not blocking queries.
    :param retry_policy: bounds of retries of transient failures.
    """

    def __init__(
        self,
        consul_conn_id: str = _ConsulHookMixin.default_conn_name,
        datacenter: str | None = None,
        timeout: float | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self._init_args(consul_conn_id, datacenter, timeout, retry_policy)
        self._settings: ClientSettings | None = None
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> ConsulAsyncHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client; the hook opens a new one if used again."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def get_settings(self) -> ClientSettings:
        """The connection's settings, read without blocking the event loop."""
        if self._settings is None:
            conn = await self.aget_connection(self.consul_conn_id)
            self._settings = self._settings_from(conn)
        return self._settings

    async def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            settings = await self.get_settings()
            # Loading CA bundles and key files is file I/O: keep it off the event loop.
            kwargs = await asyncio.to_thread(
                httpx_client_kwargs, settings, token_header=TOKEN_HEADER
            )
            if self._client is None:  # another coroutine may have won the race meanwhile
                self._client = httpx.AsyncClient(**kwargs)
        return self._client

    # -- transport --

    async def _send_once(self, request: api.ConsulRequest) -> ConsulResponse:
        settings = await self.get_settings()
        client = await self._get_client()
        read_timeout = self._read_timeout(settings, request)
        built = client.build_request(
            request.method,
            request.path,
            params=list(request.params),
            timeout=httpx.Timeout(settings.timeout, read=read_timeout),
        )
        try:
            raw = await client.send(built)
        except httpx.TransportError as exc:
            raise consul_transport_error(exc, settings, request, read_timeout) from None
        response = ConsulResponse(raw.status_code, raw.headers, raw.text)
        if response.status >= 400:
            raise self._api_error(settings, response, request)
        return response

    async def _send(self, request: api.ConsulRequest) -> ConsulResponse:
        kwargs = _retry_kwargs(
            self.retry_policy, request.description, self.log, request.wait or 0.0
        )
        async for attempt in AsyncRetrying(**kwargs):
            with attempt:
                return await self._send_once(request)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _json(self, request: api.ConsulRequest) -> tuple[ConsulResponse, Any]:
        response = await self._send(request)
        return response, self._decode_json(await self.get_settings(), response, request)

    # -- API --

    async def health_service(
        self,
        service: str,
        *,
        tags: Iterable[str] = (),
        filter_expr: str | None = None,
        index: int | None = None,
        wait: float | None = None,
    ) -> tuple[list[dict], int]:
        """Instances of a service with their checks, and ``X-Consul-Index`` (blocking query)."""
        settings = await self.get_settings()
        request = self._health_request(settings, service, tags, filter_expr, index, wait)
        response, entries = await self._json(request)
        return entries, response.index

    async def health_report(
        self,
        service: str,
        *,
        tags: Iterable[str] = (),
        filter_expr: str | None = None,
        treat_warning_as_passing: bool = False,
        index: int | None = None,
        wait: float | None = None,
    ) -> HealthReport:
        """The health of a service's instances (see :meth:`ConsulHook.health_report`)."""
        settings = await self.get_settings()
        tags = tuple(tags)
        request = self._health_request(settings, service, tags, filter_expr, index, wait)
        health, entries = await self._json(request)
        catalog, catalog_entries = None, None
        if not entries:
            lookup = api.catalog_service(service, datacenter=settings.datacenter)
            catalog, catalog_entries = await self._json(lookup)
        return self._report(
            settings,
            service,
            tags,
            filter_expr,
            treat_warning_as_passing,
            health,
            entries,
            catalog,
            catalog_entries,
        )
