"""Hooks for HashiCorp Consul: :class:`ConsulHook` (sync) and :class:`ConsulAsyncHook` (async).

Both build their requests with :mod:`airflow_provider_nomad.consul.requests`, judge health with
:mod:`airflow_provider_nomad.consul.health`, retry with the shared policy of
:mod:`airflow_provider_nomad.retry` and map errors with
:func:`~airflow_provider_nomad.exceptions.consul_error_for_response` and
:func:`~airflow_provider_nomad.transport.transport_error`; only the I/O differs. The
sync hook sends through py-consul's HTTP client (its connection pool, TLS settings and
timeouts), the async hook through one ``httpx.AsyncClient`` so a trigger never blocks the
triggerer's event loop.

The connection is the only source of settings: py-consul lets the ``CONSUL_HTTP_TOKEN``
environment variable override an explicit token, and the sync hook undoes that. The token
travels in the ``X-Consul-Token`` header only and never appears in messages.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import urlsplit

import consul
import httpx
import requests
from airflow.sdk import BaseHook

from airflow_provider_nomad.connection import (
    ClientSettings,
    consul_settings_from_connection,
)
from airflow_provider_nomad.consul import requests as api
from airflow_provider_nomad.consul.health import HealthReport, parse_instances
from airflow_provider_nomad.exceptions import (
    ConsulApiError,
    ConsulConnectionError,
    ConsulUnexpectedResponseError,
    NomadProviderError,
    consul_error_for_response,
)
from airflow_provider_nomad.hooks.base import AsyncHttpClientMixin, ServiceHookMixin
from airflow_provider_nomad.retry import DEFAULT_RETRY_POLICY, RetryPolicy
from airflow_provider_nomad.transport import (
    CONSUL,
    index_header,
    redact,
    redirect_error,
    requests_session,
)

__all__ = ["ConsulAsyncHook", "ConsulHook", "ConsulResponse"]

_T = TypeVar("_T")


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
        """``X-Consul-Index`` (at least 1: absent, malformed or 0 reads as 1)."""
        return index_header(self.headers, CONSUL)

    @property
    def filtered_by_acls(self) -> bool:
        """``X-Consul-Results-Filtered-By-ACLs: true``: ACLs removed some results."""
        return str(self.headers.get("X-Consul-Results-Filtered-By-ACLs", "")).lower() == "true"


# --- shared by both hooks ---------------------------------------------------------------------

#: The requests of one API call, in order, each answered with ``(response, decoded JSON)``, and
#: the call's result: the logic is written once, and the sync and the async hook each send it.
_Plan = Generator[api.ConsulRequest, tuple[ConsulResponse, Any], _T]


class _ConsulHookMixin(ServiceHookMixin):
    """What the sync and the async hook share: identity, arguments, errors, reports."""

    conn_name_attr = "consul_conn_id"
    default_conn_name = "consul_default"
    conn_type = "consul"
    hook_name = "Consul"
    service = CONSUL

    def __init__(
        self,
        consul_conn_id: str = default_conn_name,
        datacenter: str | None = None,
        timeout: float | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.consul_conn_id = consul_conn_id
        self.datacenter = datacenter
        self.timeout = timeout
        self.retry_policy = retry_policy or DEFAULT_RETRY_POLICY

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
        return consul_error_for_response(
            response.status,
            redact(response.text, settings.token),
            request.method,
            request.path,
            conn_id=self.consul_conn_id,
        )

    @staticmethod
    def _read_timeout(settings: ClientSettings, request: api.ConsulRequest) -> float:
        return api.blocking_read_timeout(request.wait, settings.timeout)

    @staticmethod
    def _decode_json(
        settings: ClientSettings, response: ConsulResponse, request: api.ConsulRequest
    ) -> Any:
        text = redact(response.text, settings.token)
        snippet = text[:200] if text else "(empty body)"
        try:
            body = json.loads(response.text)
        except ValueError:
            raise ConsulUnexpectedResponseError(
                f"Expected JSON from Consul at {settings.base_url} for {request.description}, "
                f"got: {snippet}"
            ) from None
        problem = request.answer_problem(body)
        if problem:
            # A proxy's page, another endpoint's JSON or a cut-off answer must not be taken
            # for Consul's: a health answer that is not one would count as healthy.
            raise ConsulUnexpectedResponseError(
                f"Unexpected answer from Consul at {settings.base_url} for "
                f"{request.description}: {problem}. Check that the connection points at a "
                f"Consul agent. The answer began: {snippet}"
            )
        return body

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

    @classmethod
    def _health_report_plan(
        cls,
        settings: ClientSettings,
        service: str,
        tags: Iterable[str],
        filter_expr: str | None,
        treat_warning_as_passing: bool,
        index: int | None,
        wait: float | None,
    ) -> _Plan[HealthReport]:
        """The health of a service's instances; the catalog is asked only when none match."""
        tags = tuple(tags)
        request = cls._health_request(settings, service, tags, filter_expr, index, wait)
        health, entries = yield request
        instances = parse_instances(entries, service)
        catalog, catalog_entries = None, None
        if not instances:
            lookup = api.catalog_service(service, datacenter=settings.datacenter)
            catalog, catalog_entries = yield lookup
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
            tags=tags,
            filter_expr=filter_expr,
        )


# --- sync -------------------------------------------------------------------------------------


class ConsulHook(_ConsulHookMixin, BaseHook):
    """Talk to Consul from a worker, through py-consul.

    :param consul_conn_id: Airflow connection of type ``consul``.
    :param datacenter: Consul datacenter; overrides the connection's ``datacenter`` extra.
    :param timeout: connect/read timeout in seconds of calls that are not blocking queries.
    :param retry_policy: bounds of retries of transient failures.
    """

    _client: consul.Consul | None = None

    @cached_property
    def settings(self) -> ClientSettings:
        """The connection's settings, with this hook's overrides applied."""
        return self._settings_from(self.get_connection(self.consul_conn_id))

    def get_conn(self) -> consul.Consul:
        """A ``consul.Consul`` client set up from the connection alone (TLS verified by default).

        py-consul reads ``CONSUL_HTTP_TOKEN`` in preference to the token it is given; the
        client's token is reset to the connection's so the environment never overrides it.
        Its HTTP session is replaced by one that never follows a redirect, reads nothing from
        the environment and verifies TLS as the async hook does
        (:func:`~airflow_provider_nomad.transport.requests_session`), whatever calls it.
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
                verify=settings.verify is not False,
                connections_timeout=settings.timeout,
            )
            client.token = settings.token
            client.http.session.close()
            client.http.session = requests_session(settings)
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
        session = self.get_conn().http.session
        headers = {self.service.token_header: settings.token} if settings.token else {}
        try:
            # Straight through py-consul's session, not its get(): that re-quotes the path with
            # "/" kept, so a service name's escaped "/" could not survive it and a name such as
            # "../kv/x" would reach another endpoint. The path is sent as built, escaped.
            raw = session.get(
                settings.base_url + request.path,
                params=list(request.params),
                headers=headers,
                timeout=(settings.timeout, self._read_timeout(settings, request)),
            )
            raw.encoding = "utf-8"
            text = raw.text
        except requests.RequestException as exc:
            raise self._transport_error(exc, settings, request) from None
        response = ConsulResponse(raw.status_code, raw.headers, text)
        redirect = redirect_error(
            response.status, response.headers, self.service, settings, request.description
        )
        if redirect is not None:
            raise redirect
        if response.status >= 400:
            raise self._api_error(settings, response, request)
        return response

    def _send(self, request: api.ConsulRequest) -> ConsulResponse:
        retrying = self.retry_policy.sync(request.description, **self._retry_args(request))
        return retrying(self._send_once, request)

    def _json(self, request: api.ConsulRequest) -> tuple[ConsulResponse, Any]:
        response = self._send(request)
        return response, self._decode_json(self.settings, response, request)

    def _run(self, plan: _Plan[_T]) -> _T:
        """Send each request ``plan`` yields, answer it, and return what the plan returns."""
        try:
            request = next(plan)
            while True:
                request = plan.send(self._json(request))
        except StopIteration as done:
            return done.value

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
        plan = self._health_report_plan(
            self.settings, service, tags, filter_expr, treat_warning_as_passing, index, wait
        )
        return self._run(plan)

    def service_exists(self, service: str) -> bool:
        """Whether the catalog lists at least one instance of ``service`` the token may read."""
        _, entries = self._json(api.catalog_service(service, datacenter=self.settings.datacenter))
        return bool(entries)

    def leader(self) -> str:
        """Address of the Raft leader of the datacenter (``host:port``)."""
        _, leader = self._json(api.status_leader(datacenter=self.settings.datacenter))
        return str(leader)

    def test_connection(self) -> tuple[bool, str]:
        """Check address, TLS, datacenter and token: ask for the leader, then read the catalog.

        One attempt per request with at most a 5 s timeout: it answers within seconds.
        """
        probe = None
        try:
            probe = self._connection_test_probe()
            settings = probe.settings
            leader = probe.leader()
            if not leader:
                return False, f"Consul at {settings.base_url} answers but knows no leader"
            probe.service_exists("consul")
        except NomadProviderError as exc:
            return False, str(exc)
        finally:
            if probe is not None:
                probe.close()
        where = f"datacenter {settings.datacenter!r}" if settings.datacenter else "its datacenter"
        return True, f"Connected to Consul at {settings.base_url} ({where}, leader {leader})"


# --- async ------------------------------------------------------------------------------------


class ConsulAsyncHook(_ConsulHookMixin, AsyncHttpClientMixin, BaseHook):
    """Talk to Consul from the triggerer's event loop (httpx), never blocking it.

    Use as ``async with ConsulAsyncHook(...) as hook:`` or call :meth:`aclose`: one
    ``httpx.AsyncClient`` per hook keeps connections alive between blocking queries.

    :param consul_conn_id: Airflow connection of type ``consul``.
    :param datacenter: Consul datacenter; overrides the connection's ``datacenter`` extra.
    :param timeout: connect/read timeout in seconds of calls that are not blocking queries.
    :param retry_policy: bounds of retries of transient failures.
    """

    # -- transport --

    async def _send_once(self, request: api.ConsulRequest) -> ConsulResponse:
        settings = await self.get_settings()
        client = await self._get_client()
        built = client.build_request(
            request.method,
            request.path,
            params=list(request.params),
            timeout=httpx.Timeout(settings.timeout, read=self._read_timeout(settings, request)),
        )
        try:
            raw = await client.send(built)
        except (httpx.TransportError, OSError) as exc:
            raise self._transport_error(exc, settings, request) from None
        response = ConsulResponse(raw.status_code, raw.headers, raw.text)
        redirect = redirect_error(
            response.status, response.headers, self.service, settings, request.description
        )
        if redirect is not None:
            raise redirect
        if response.status >= 400:
            raise self._api_error(settings, response, request)
        return response

    async def _send(self, request: api.ConsulRequest) -> ConsulResponse:
        retrying = self.retry_policy.asynchronous(request.description, **self._retry_args(request))
        return await retrying(self._send_once, request)

    async def _json(self, request: api.ConsulRequest) -> tuple[ConsulResponse, Any]:
        response = await self._send(request)
        return response, self._decode_json(await self.get_settings(), response, request)

    async def _run(self, plan: _Plan[_T]) -> _T:
        """Send each request ``plan`` yields, answer it, and return what the plan returns."""
        try:
            request = next(plan)
            while True:
                request = plan.send(await self._json(request))
        except StopIteration as done:
            return done.value

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
        plan = self._health_report_plan(
            await self.get_settings(),
            service,
            tags,
            filter_expr,
            treat_warning_as_passing,
            index,
            wait,
        )
        return await self._run(plan)
