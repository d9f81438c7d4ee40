"""One ``httpx.AsyncClient`` per event loop and client settings, for the short requests of hooks.

A triggerer runs thousands of triggers in one event loop, each with its own async hook. Each
hook's plain reads (a job's allocations, an evaluation, a stop) take milliseconds: through
one shared client they reuse a few pooled connections instead of a connection (and a client)
per trigger, so the connections a triggerer keeps to Nomad for waiting do not grow with the
number of waiting batches.

Only requests that end at once share. Blocking queries and log streams hold their connection
for minutes, so they stay on the hook's own client: in a shared, bounded pool they would starve
the short requests, and httpcore scans its pool's connections on every request and every
response, so an unbounded pool holding thousands of streams would make each request cost
O(streams).

Clients are shared only between hooks whose client settings are equal in everything a client
carries (address, ACL token, TLS material, timeout, token header): a hook of another
connection or token never sends through a client with another token's header. The client
closes when its last user releases it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from airflow_provider_nomad.connection import ClientSettings

__all__ = [
    "SHARED_POOL_CONNECTIONS",
    "SharedClient",
    "SharedClients",
    "shared_client_key",
    "shared_clients",
]

#: Connections of one shared client. Short requests only: a few serve thousands of hooks
#: (hundreds of reads a second each). Few on purpose: on every request and every response,
#: httpcore checks each pooled connection (a poll() of its socket) and counts the idle ones
#: once per idle connection; with 32 connections that housekeeping cost a thousand triggers
#: more CPU than the requests themselves.
SHARED_POOL_CONNECTIONS = 8
SHARED_LIMITS = httpx.Limits(
    max_connections=SHARED_POOL_CONNECTIONS,
    # httpcore counts every connection (not only idle ones) against this bound: equal to
    # max_connections, an idle connection is kept instead of closed after each request.
    max_keepalive_connections=SHARED_POOL_CONNECTIONS,
)


def shared_client_key(
    settings: ClientSettings, client_kwargs: dict[str, Any], token_header: str
) -> Hashable:
    """What two hooks must have in common to share a client.

    Namespace, region and datacenter travel as query parameters of each request, so they do
    not split clients; everything the client itself carries does. The SSL context is part of
    the key by identity: a CA or certificate file that changed gets a new context, hence a
    new client.

    :param settings: the hook's client settings.
    :param client_kwargs: what the client is built from (``httpx_client_kwargs``).
    :param token_header: the header the ACL token travels in.
    """
    return (
        token_header,
        replace(settings, namespace=None, region=None, datacenter=None),
        client_kwargs["verify"],
    )


@dataclass
class SharedClient:
    """A shared client, its users and the gate its requests pass.

    httpcore assigns queued requests to connections by scanning every queued request and
    every connection, on each request and each response: a thousand triggers reading at
    once (a burst of deferrals, a triggerer restart) made that quadratic and stalled the
    event loop for seconds. The gate lets only as many requests in as the pool has
    connections; the rest wait in the semaphore's queue, woken one by one.
    """

    client: httpx.AsyncClient
    gate: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(SHARED_POOL_CONNECTIONS)
    )
    users: int = 0


class SharedClients:
    """The shared clients of one event loop, counted by user. Event-loop thread only."""

    def __init__(self) -> None:
        self._clients: dict[Hashable, SharedClient] = {}

    def acquire(self, key: Hashable, make: Callable[[], httpx.AsyncClient]) -> SharedClient:
        """The client of ``key`` (made with ``make`` if none is open); release it after use."""
        shared = self._clients.get(key)
        if shared is None:
            shared = self._clients[key] = SharedClient(make())
        shared.users += 1
        return shared

    async def release(self, key: Hashable, shared: SharedClient) -> None:
        """One user less; the last one closes the client."""
        if self._clients.get(key) is not shared:
            return  # already closed (e.g. released twice): nothing to count
        shared.users -= 1
        if shared.users <= 0:
            # Forgotten before closing: a hook acquiring meanwhile gets a new client, never
            # one being closed.
            del self._clients[key]
            await shared.client.aclose()

    def users(self, key: Hashable) -> int:
        """Hooks using the client of ``key`` now (0 when none is open)."""
        shared = self._clients.get(key)
        return shared.users if shared else 0

    def __len__(self) -> int:
        return len(self._clients)


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SharedClients] = (
    weakref.WeakKeyDictionary()
)


def shared_clients() -> SharedClients:
    """The running event loop's shared clients (a client never crosses event loops)."""
    loop = asyncio.get_running_loop()
    clients = _per_loop.get(loop)
    if clients is None:
        clients = _per_loop[loop] = SharedClients()
    return clients
