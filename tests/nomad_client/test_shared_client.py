"""The event loop's shared HTTP client of async hooks: who shares it, who never, who closes it."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_nomad.hooks.nomad import NomadAsyncHook
from airflow_provider_nomad.hooks.shared_client import SHARED_POOL_CONNECTIONS, shared_clients


def add_connection(monkeypatch, conn_id: str, address: str, token: str | None, **extra) -> None:
    conn = {"conn_type": "nomad", "host": address, "extra": extra}
    if token:
        conn["password"] = token
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


async def test_hooks_of_one_connection_share_one_client_closed_by_the_last(
    monkeypatch, plain_server
):
    add_connection(monkeypatch, "shared_a", plain_server.address, "token-a")
    first, second = NomadAsyncHook("shared_a"), NomadAsyncHook("shared_a")
    await first.get_job_allocations("job-1")
    await second.get_job_allocations("job-2")
    client, key = first._shared_client, first._shared_key
    assert client is not None and client is second._shared_client
    assert shared_clients().users(key) == 2

    await first.aclose()
    assert not client.is_closed
    assert shared_clients().users(key) == 1
    await second.get_job_allocations("job-3")  # the remaining user still sends through it

    await second.aclose()
    assert client.is_closed
    assert shared_clients().users(key) == 0

    # A hook arriving after the last one left gets a new, open client.
    async with NomadAsyncHook("shared_a") as third:
        await third.get_job_allocations("job-4")
        assert third._shared_client is not client and not third._shared_client.is_closed
    assert [r["path"].split("?")[0] for r in plain_server.seen] == [
        f"/v1/job/job-{i}/allocations" for i in range(1, 5)
    ]


async def test_hooks_with_other_tokens_never_share_a_client(monkeypatch, plain_server):
    add_connection(monkeypatch, "token_a", plain_server.address, "token-a")
    add_connection(monkeypatch, "token_b", plain_server.address, "token-b")
    add_connection(monkeypatch, "no_token", plain_server.address, None)
    hooks = [NomadAsyncHook(c) for c in ("token_a", "token_b", "no_token")]
    try:
        # Interleaved, at once: the pool of one must never carry the header of another.
        for round_ in range(3):
            await asyncio.gather(*(h.get_job_allocations(f"j{round_}") for h in hooks))
        clients = {id(h._shared_client) for h in hooks}
        assert len(clients) == 3
    finally:
        for hook in hooks:
            await hook.aclose()
    tokens = [r["headers"].get("X-Nomad-Token") for r in plain_server.seen]
    assert sorted(tokens, key=str) == sorted(["token-a", "token-b", None] * 3, key=str)


async def test_namespaces_of_one_connection_share_and_keep_their_own_namespace(
    monkeypatch, plain_server
):
    add_connection(monkeypatch, "ns_conn", plain_server.address, "token-a")
    risk = NomadAsyncHook("ns_conn", namespace="risk")
    ops = NomadAsyncHook("ns_conn", namespace="ops")
    try:
        await risk.get_job_allocations("a")
        await ops.get_job_allocations("b")
        assert risk._shared_client is ops._shared_client
    finally:
        await risk.aclose()
        await ops.aclose()
    paths = [r["path"] for r in plain_server.seen]
    assert "namespace=risk" in paths[0] and "namespace=ops" in paths[1]


async def test_blocking_queries_stay_on_the_hooks_own_client(monkeypatch, plain_server):
    add_connection(monkeypatch, "blocking", plain_server.address, None)
    async with NomadAsyncHook("blocking") as hook:
        await hook.get_job_allocations("j", index=3, wait=1)
        assert hook._client is not None and hook._shared_client is None
        await hook.get_job_allocations("j")
        assert hook._shared_client is not None and hook._shared_client is not hook._client
    assert "index=3" in plain_server.seen[0]["path"]


def test_event_loops_never_share_a_client(monkeypatch, plain_server):
    add_connection(monkeypatch, "loops", plain_server.address, None)

    async def client_of_this_loop() -> object:
        hook = NomadAsyncHook("loops")
        await hook.get_job_allocations("j")
        client = hook._shared_client
        await hook.aclose()
        return client

    first, second = asyncio.run(client_of_this_loop()), asyncio.run(client_of_this_loop())
    assert first is not second


@pytest.mark.parametrize("users", [1, 50])
async def test_many_users_release_in_any_order(monkeypatch, plain_server, users):
    add_connection(monkeypatch, "many", plain_server.address, None)
    hooks = [NomadAsyncHook("many") for _ in range(users)]
    await asyncio.gather(*(h.get_job_allocations(f"j{i}") for i, h in enumerate(hooks)))
    client, key = hooks[0]._shared_client, hooks[0]._shared_key
    for hook in reversed(hooks[1:]):
        await hook.aclose()
        assert not client.is_closed
    await hooks[0].aclose()
    await hooks[0].aclose()  # twice: counted once
    assert client.is_closed and shared_clients().users(key) == 0


async def test_a_burst_of_hooks_reads_through_a_bounded_number_of_connections(
    monkeypatch, plain_server
):
    # A triggerer picking up a burst of deferred tasks: every trigger reads at once.
    add_connection(monkeypatch, "burst", plain_server.address, None)
    hooks = [NomadAsyncHook("burst") for _ in range(3 * SHARED_POOL_CONNECTIONS)]
    try:
        await asyncio.gather(*(h.get_job_allocations(f"j{i}") for i, h in enumerate(hooks)))
    finally:
        for hook in hooks:
            await hook.aclose()
    assert len(plain_server.seen) == len(hooks)
    connections = {tuple(r["peer"]) for r in plain_server.seen}
    assert len(connections) <= SHARED_POOL_CONNECTIONS
