"""What every ACL handler shares: the ACLs-enabled check, ``acl:read``/``acl:write``, body
decoding, blocking reads on the ACL tables' index, and the reply after a write."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl import Authorizer
from airflow_provider_nomad.testing.consul.models import ConsulBackend
from airflow_provider_nomad.testing.consul.responses import _json, query_options, request_token


def acl_backend(request: Request) -> ConsulBackend:
    """The backend; 401 ``ACL support disabled`` when the emulator runs without ACLs."""
    backend: ConsulBackend = request.app.state.backend
    if not backend.acl.enabled:
        raise errors.ConsulHTTPError(401, "ACL support disabled")
    return backend


def authorize(backend: ConsulBackend, request: Request, access: str) -> Authorizer:
    """The request's authorizer, once it holds ``acl:<access>`` (else Consul's 403)."""
    authz = backend.acl.resolve(request_token(request))
    authz.require("acl", "", access)
    return authz


async def decode(request: Request, what: str) -> dict[str, Any]:
    """The JSON object in the body (``lib.DecodeJSON``: an empty body is an empty object)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise errors.ConsulHTTPError(400, f"{what} decoding failed: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise errors.ConsulHTTPError(400, f"{what} decoding failed: the body must be an object")
    return body


def path_rest(request: Request, name: str) -> str:
    return str(request.path_params.get(name, ""))


async def read(request: Request, backend: ConsulBackend, compute: Callable[[], Any]) -> Response:
    """Answer ``compute()`` (run under the backend's lock), blocking with ``?index=`` until
    an ACL write moves the ACL tables' index past it, as Consul's ACL reads do."""
    options = query_options(request)
    index, result = await backend.feed.blocking_query(
        options.min_index, options.wait, lambda: (backend.acl.table_index, compute())
    )
    headers = {
        "X-Consul-Index": str(max(1, index)),
        "X-Consul-KnownLeader": "true",
        "X-Consul-LastContact": "0",
        "X-Consul-Effective-Consistency": options.consistency,
    }
    return _json(request, result, headers)


def write(request: Request, backend: ConsulBackend, change: Callable[[], Any]) -> Response:
    """Apply ``change()`` under the lock, wake blocked ACL reads, answer what it returned."""
    with backend.lock:
        result = change()
    backend.feed.notify()
    return _json(request, result)
