"""User events (``/v1/event/fire/:name``, ``/v1/event/list``), after ``agent/event_endpoint.go``
and ``agent/user_event.go``.

An event fired here is kept in the agent's ring buffer of the last 256 events when its node,
service and tag filters match this agent (as gossip would deliver it); ``list`` returns the
buffer oldest first, filtered by ``?name=`` only, and blocks on an index derived from the last
event's ID, as Consul does.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections import deque
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl import READ, WRITE
from airflow_provider_nomad.testing.consul.models import ConsulBackend
from airflow_provider_nomad.testing.consul.responses import (
    _backend,
    _json,
    _path_rest,
    _read_headers,
    query_options,
    request_token,
)

BUFFER_SIZE = 256  # the agent's eventBuf
USER_EVENT_VERSION = 1


class EventBuffer:
    """The agent's last events and its Lamport clock."""

    def __init__(self) -> None:
        self.events: deque[dict[str, Any]] = deque(maxlen=BUFFER_SIZE)
        self.ltime = 0


def buffer_of(backend: ConsulBackend) -> EventBuffer:
    """The backend's buffer (the caller holds the lock); a reset starts an empty one."""
    return backend.extra_state.setdefault("user_events", EventBuffer())


def uuid_to_uint64(event_id: str) -> int:
    """``uuidToUint64``: the upper and lower halves of the ID, XORed."""
    raw = uuid.UUID(event_id).bytes
    return int.from_bytes(raw[:8], "little") ^ int.from_bytes(raw[8:], "little")


def _compile(pattern: str, what: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise errors.ConsulHTTPError(500, f"Invalid {what} filter: {exc}") from exc


def _reaches_this_agent(backend: ConsulBackend, node_re, service_re, tag_re) -> bool:
    """``shouldProcessUserEvent``: do the event's filters select this agent?"""
    if node_re is not None and not node_re.search(backend.node_name):
        return False
    if service_re is None:
        return True
    for service in backend.local_node.services.values():
        if not service.agent_local or not service_re.search(service.name):
            continue
        if tag_re is None or any(tag_re.search(tag) for tag in service.tags):
            return True
    return False


async def event_fire(request: Request) -> Response:
    backend = _backend(request)
    params = request.query_params
    datacenter = params.get("dc", "")
    name = _path_rest(request, "name")
    if not name:
        raise errors.ConsulHTTPError(400, "Missing name")
    backend.acl.resolve(request_token(request)).require("event", name, WRITE)
    node_filter, service_filter, tag_filter = (
        params.get(k, "") for k in ("node", "service", "tag")
    )
    if tag_filter and not service_filter:
        raise errors.ConsulHTTPError(500, "Cannot provide tag filter without service filter")
    node_re = _compile(node_filter, "node")
    service_re = _compile(service_filter, "service")
    tag_re = _compile(tag_filter, "tag")
    payload = await request.body()
    event = {
        "ID": str(uuid.uuid4()),
        "Name": name,
        "Payload": base64.b64encode(payload).decode() if payload else None,
        "NodeFilter": node_filter,
        "ServiceFilter": service_filter,
        "TagFilter": tag_filter,
        "Version": USER_EVENT_VERSION,
        "LTime": 0,
    }
    with backend.lock:
        dc = backend.datacenter(datacenter or None)  # 500 for an unknown datacenter
        local = dc.name == backend.local_datacenter
        if local and _reaches_this_agent(backend, node_re, service_re, tag_re):
            buffer = buffer_of(backend)
            buffer.ltime += 1
            buffer.events.append(event | {"LTime": buffer.ltime})
    backend.feed.notify()
    return _json(request, event)


async def event_list(request: Request) -> Response:
    backend = _backend(request)
    options = query_options(request)
    name = request.query_params.get("name", "")
    authz = backend.acl.resolve(options.token)

    def run() -> tuple[int, tuple[int, list[dict[str, Any]], bool]]:
        events = list(buffer_of(backend).events)  # blocking_query holds the lock
        index = uuid_to_uint64(events[-1]["ID"]) if events else 0
        allowed = [e for e in events if authz.allowed("event", e["Name"], READ)]
        named = [e for e in allowed if not name or e["Name"] == name]
        # The index is no counter: any other last event ends the wait, whatever its value.
        progress = options.min_index if index == options.min_index else options.min_index + 1
        return progress, (index, named, len(allowed) != len(events))

    _, (index, events, filtered) = await backend.feed.blocking_query(
        options.min_index, options.wait, run
    )
    return _json(request, events, _read_headers(index, options, authz, filtered))


ENDPOINTS = (
    ("/v1/event/fire/{name:path}", ("PUT",), event_fire),
    ("/v1/event/list", ("GET",), event_list),
)
