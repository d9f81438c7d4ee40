"""What the Nomad and the Consul hooks share as Airflow hooks, whichever service they talk to.

:class:`ServiceHookMixin` names a hook, retries its requests and maps their transport failures
the same way for both services; :class:`AsyncHttpClientMixin` keeps an async hook's settings
and its one ``httpx.AsyncClient``. The services' own logic stays in ``hooks/nomad.py`` and
``hooks/consul.py``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import httpx

from airflow_provider_nomad.connection import ClientSettings, httpx_client_kwargs
from airflow_provider_nomad.hooks.shared_client import (
    SHARED_LIMITS,
    SharedClient,
    SharedClients,
    shared_client_key,
    shared_clients,
)
from airflow_provider_nomad.retry import RetryPolicy
from airflow_provider_nomad.transport import Service, transport_error

if TYPE_CHECKING:
    from airflow_provider_nomad.exceptions import NomadConnectionError

__all__ = ["CONNECTION_TEST_TIMEOUT", "AsyncHttpClientMixin", "ServiceHookMixin"]

#: Connect/read timeout (seconds) of a connection test: someone is waiting at the form.
CONNECTION_TEST_TIMEOUT = 5.0
_SINGLE_ATTEMPT = RetryPolicy(max_attempts=1)


class _Request(Protocol):
    """What the shared hook code reads of a request (Nomad's ``ApiRequest``, ``ConsulRequest``)."""

    @property
    def description(self) -> str: ...

    @property
    def wait(self) -> float | None: ...

    @property
    def idempotent(self) -> bool: ...


class ServiceHookMixin:
    """What every hook here does alike around one request: name itself, retry, map failures.

    Mixed into the Nomad and Consul hooks (sync and async), which set ``service`` and
    ``conn_name_attr`` and read a request's timeout in ``_read_timeout``.
    """

    service: ClassVar[Service]
    conn_name_attr: ClassVar[str]
    retry_policy: RetryPolicy
    log: logging.Logger
    _read_timeout: Callable[[ClientSettings, Any], float | None]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.conn_name_attr}={getattr(self, self.conn_name_attr)!r})"
        )

    def _retry_args(self, request: _Request) -> dict[str, Any]:
        """How the retry policy treats ``request``: its log line, whether it may repeat."""
        return {
            "service": self.service.name,
            "idempotent": request.idempotent,
            "log": self.log,
            "extra_delay": request.wait or 0.0,
        }

    def _connection_test_probe(self: _SyncHook) -> _SyncHook:
        """This sync hook for a connection test: one attempt, at most a 5 s timeout.

        A test answers someone at the connection form or ``airflow connections test``: an
        unreachable agent must say so in seconds, not after the retries a task would make.
        """
        probe = copy.copy(self)
        probe.retry_policy = _SINGLE_ATTEMPT
        probe._client = None
        settings = self.settings
        probe.settings = replace(settings, timeout=min(settings.timeout, CONNECTION_TEST_TIMEOUT))
        return probe

    def _transport_error(
        self, exc: BaseException, settings: ClientSettings, request: _Request
    ) -> NomadConnectionError:
        read_timeout = self._read_timeout(settings, request)
        return transport_error(exc, self.service, settings, request.description, read_timeout)


_Hook = TypeVar("_Hook", bound="AsyncHttpClientMixin")
_SyncHook = TypeVar("_SyncHook", bound=Any)


class AsyncHttpClientMixin:
    """An async hook's settings and its ``httpx.AsyncClient`` s, made on first use.

    None is made in ``__init__``: a trigger builds its hook in the triggerer's event loop,
    where reading the connection and loading TLS material must not block. The hook's own
    client (:meth:`_get_client`) keeps its connections alive between calls; a hook may also
    send requests that end at once through the event loop's shared client for its settings
    (:meth:`_get_shared_client`). ``async with hook:`` or :meth:`aclose` closes the first and
    leaves the second.
    Mixed into a hook that also derives from Airflow's ``BaseHook`` and names its connection
    attribute in ``conn_name_attr``.
    """

    service: ClassVar[Service]
    conn_name_attr: ClassVar[str]
    #: the hook's own reading of a connection (with its explicit overrides)
    _settings_from: Callable[[Any], ClientSettings]
    get_connection: Callable[[str], Any]

    _settings: ClientSettings | None = None
    _client: httpx.AsyncClient | None = None
    _shared: SharedClient | None = None
    _shared_owner: SharedClients | None = None
    _shared_key: Hashable = None

    async def __aenter__(self: _Hook) -> _Hook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client (and leave the shared one); the hook opens new ones if used
        again."""
        client, self._client = self._client, None
        shared, self._shared = self._shared, None
        try:
            if client is not None:
                await client.aclose()
        finally:
            if shared is not None and self._shared_owner is not None:
                await self._shared_owner.release(self._shared_key, shared)

    async def get_settings(self) -> ClientSettings:
        """The connection's settings, read without blocking the event loop."""
        if self._settings is None:
            conn_id = getattr(self, self.conn_name_attr)
            aget_connection = getattr(self, "aget_connection", None)
            if aget_connection is not None:
                conn = await aget_connection(conn_id)
            else:  # Airflow releases before the async connection API
                conn = await asyncio.to_thread(self.get_connection, conn_id)
            self._settings = self._settings_from(conn)
        return self._settings

    async def _get_shared_client(self) -> SharedClient:
        """The event loop's client for these settings, shared with other hooks for requests
        that end at once; send through its ``gate`` (see
        :mod:`~airflow_provider_nomad.hooks.shared_client`)."""
        if self._shared is None:
            settings = await self.get_settings()
            kwargs = await asyncio.to_thread(
                httpx_client_kwargs, settings, token_header=self.service.token_header
            )
            if self._shared is None:  # another coroutine may have won the race meanwhile
                key = shared_client_key(settings, kwargs, self.service.token_header)
                # Kept: the release goes to the loop the client belongs to, whichever closes.
                self._shared_owner = shared_clients()
                self._shared = self._shared_owner.acquire(
                    key, lambda: httpx.AsyncClient(**kwargs, limits=SHARED_LIMITS)
                )
                self._shared_key = key
        return self._shared

    @property
    def _shared_client(self) -> httpx.AsyncClient | None:
        return self._shared.client if self._shared is not None else None

    async def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            settings = await self.get_settings()
            # Loading CA bundles and key files is file I/O: keep it off the event loop.
            kwargs = await asyncio.to_thread(
                httpx_client_kwargs, settings, token_header=self.service.token_header
            )
            if self._client is None:  # another coroutine may have won the race meanwhile
                self._client = httpx.AsyncClient(**kwargs)
        return self._client
