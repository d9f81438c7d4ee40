"""``GET /v1/event/stream``: newline-delimited JSON batches and ``{}`` heartbeats.

Mirrors ``command/agent/event_endpoint.go`` and ``nomad/event_endpoint.go``: ``index`` must
parse as an int; each ``topic`` is ``Topic`` or ``Topic:Key`` (no topic means ``*:*``); the
token must allow every topic asked in every namespace streamed (``namespace=*`` streams all
namespaces); the stream starts with a heartbeat, then each matching batch as one line, and a
heartbeat whenever nothing was sent for the heartbeat interval.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response, StreamingResponse

from ..middleware import TRANSPORT_KEY
from . import errors
from .events import TOPIC_ALL, EventBroker, StreamClosed, StreamCut, Subscription
from .golang import GoError, parse_int
from .responses import GET, Ctx, method_not_allowed

HEARTBEAT = b"{}\n"

# validateNsOp: the namespace capability each namespaced topic needs.
_READ_JOB_TOPICS = frozenset({"Deployment", "Evaluation", "Allocation", "Job", "Service"})


def parse_topics(raw_query: bytes) -> dict[str, list[str]]:
    """``parseEventTopics``: every ``topic`` value, ``Topic`` alone meaning ``Topic:*``."""
    values = [v for k, v in parse_qsl(raw_query.decode("utf-8", "replace"), True) if k == "topic"]
    if not values:
        return {TOPIC_ALL: [TOPIC_ALL]}
    topics: dict[str, list[str]] = {}
    for value in values:
        parts = value.split(":")
        if len(parts) == 1:
            parts.append(TOPIC_ALL)
        elif len(parts) != 2:
            raise errors.bad_request(
                "Invalid topic query: error parsing topics: "
                f"Invalid key value pair for topic, topic: {value}"
            )
        topics.setdefault(parts[0], []).append(parts[1])
    return topics


def _check_acl(ctx: Ctx, token: str, namespaces: list[str], topics: dict[str, list[str]]):
    """``validateACL``: every topic in every namespace, else ``Permission denied``."""
    acl = ctx.backend.acl
    if not acl.enabled:
        return
    resolved = acl.resolve(token) if token else None
    if token and resolved is None:
        raise errors.forbidden()
    for namespace in namespaces:
        for topic in topics:
            if topic in _READ_JOB_TOPICS:
                allowed = resolved is not None and acl.allows(resolved, namespace, "read-job")
            elif topic == "Node":
                allowed = acl.allows_node_read(token)
            else:  # "*", ACL*, NodePool, Operator...: management only
                allowed = resolved is not None and resolved.management
            if not allowed:
                raise errors.forbidden()


async def event_stream(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    index_text = ctx.query.get("index") or "0"
    try:
        index = parse_int(index_text)
    except GoError as exc:
        atoi = str(exc).replace("strconv.ParseInt", "strconv.Atoi")
        raise errors.bad_request(f"Unable to parse index: {atoi}") from exc
    topics = parse_topics(ctx.request.scope.get("query_string", b""))
    opts = ctx.options()
    backend = ctx.backend
    everywhere = opts.namespace == "*"
    namespaces = sorted(backend.state.namespaces) if everywhere else [opts.namespace]
    _check_acl(ctx, opts.token, namespaces, topics)
    sub = backend.events.subscribe(topics, namespaces, max(index, 0))
    transport = ctx.request.scope.get(TRANSPORT_KEY)
    body = _stream(backend.events, sub, backend.event_heartbeat, transport)
    return StreamingResponse(
        body, media_type="application/json", headers={"Cache-Control": "no-cache"}
    )


async def _stream(
    broker: EventBroker, sub: Subscription, heartbeat: float, transport: Any
) -> AsyncIterator[bytes]:
    yield HEARTBEAT  # NewJsonStream sends one as soon as the stream opens
    loop_time = asyncio.get_running_loop().time
    deadline = loop_time() + heartbeat
    while True:
        try:
            events = await broker.next(sub, max(0.0, deadline - loop_time()))
        except StreamClosed:
            return
        except StreamCut:
            if transport is not None:
                transport.abort()
                # Let the server see the lost connection before the body ends.
                for _ in range(3):
                    await asyncio.sleep(0)
            return
        if events is None:
            yield HEARTBEAT
            deadline = loop_time() + heartbeat
            continue
        if not events:
            continue
        batch = {"Index": events[0].index, "Events": [e.to_dict() for e in events]}
        yield json.dumps(batch, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        # Nomad's heartbeat ticker runs on its own: it does not restart when a batch goes out.
