"""Control API of the Consul emulator (``/_emulator/consul/...`` on the Consul port) and its client.

Tests and demos drive the emulated cluster through it: flip a node's ``serfHealth``, set any
check's status, add a datacenter, create limited ACL tokens, and wait until a client is parked
in a blocking query (to change state exactly then, without sleeping). It lives outside Consul's
``/v1/`` and the emulator's request counters and faults ignore it. With ACLs on, every request
must carry the management token (``X-Consul-Token`` or ``Authorization: Bearer``), else 403
``Permission denied``: it mints tokens. Without ACLs it is open.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from airflow_provider_nomad.testing.consul.errors import PERMISSION_DENIED
from airflow_provider_nomad.testing.consul.responses import request_token
from airflow_provider_nomad.testing.control import ACL_HINT

PREFIX = "/_emulator/consul"


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _bind(request: Request) -> Any:
    backend = request.app.state.backend
    backend.feed.bind_loop(asyncio.get_running_loop())
    return backend


async def reset(request: Request) -> Response:
    _bind(request).reset()
    return JSONResponse({"ok": True})


async def serf_health(request: Request) -> Response:
    body = await _json_body(request)
    _bind(request).set_serf_health(
        bool(body.get("Passing", True)), node=body.get("Node"), datacenter=body.get("Datacenter")
    )
    return JSONResponse({"ok": True})


async def check_status(request: Request) -> Response:
    body = await _json_body(request)
    _bind(request).set_check_status(
        request.path_params["check_id"],
        str(body.get("Status", "")),
        str(body.get("Output", "")),
        node=body.get("Node"),
        datacenter=body.get("Datacenter"),
    )
    return JSONResponse({"ok": True})


async def datacenters(request: Request) -> Response:
    body = await _json_body(request)
    _bind(request).add_datacenter(
        str(body["Name"]), body.get("Node"), str(body.get("Address") or "127.0.0.2")
    )
    return JSONResponse({"ok": True})


async def tokens(request: Request) -> Response:
    body = await _json_body(request)
    backend = _bind(request)
    secret = backend.create_token(dict(body.get("Rules") or {}), str(body.get("Description", "")))
    accessor = backend.acl.resolve(secret).token.accessor_id
    return JSONResponse({"SecretID": secret, "AccessorID": accessor})


async def blocked(request: Request) -> Response:
    backend = _bind(request)
    count = int(request.query_params.get("count", "0"))
    timeout = float(request.query_params.get("timeout", "10"))
    reached = await backend.feed.until_blocked(count, timeout) if count else True
    return JSONResponse({"Blocked": backend.blocked_queries, "Reached": reached})


def _authorized(request: Request) -> bool:
    """Without ACLs anyone may drive the emulator; with them, the management token only."""
    acl = request.app.state.backend.acl
    return not acl.enabled or acl.is_management_secret(request_token(request))


def _guarded(handler):
    async def endpoint(request: Request) -> Response:
        if not _authorized(request):
            return PlainTextResponse(PERMISSION_DENIED, status_code=403)
        try:
            return await handler(request)
        except (KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return endpoint


def control_routes() -> list[BaseRoute]:
    """The control routes, served by the Consul emulator app itself."""
    return [
        Route(f"{PREFIX}/reset", _guarded(reset), methods=["POST"]),
        Route(f"{PREFIX}/serf-health", _guarded(serf_health), methods=["POST"]),
        Route(f"{PREFIX}/checks/{{check_id:path}}", _guarded(check_status), methods=["POST"]),
        Route(f"{PREFIX}/datacenters", _guarded(datacenters), methods=["POST"]),
        Route(f"{PREFIX}/tokens", _guarded(tokens), methods=["POST"]),
        Route(f"{PREFIX}/blocked", _guarded(blocked), methods=["GET"]),
    ]


class ConsulControl:
    """Client of the Consul emulator's control API.

    :param consul_addr: the emulator's Consul address, e.g. ``http://127.0.0.1:8500``.
    :param token: the emulator's management token (``Emulator.token``), needed when it enforces
        ACLs.
    :param verify: TLS verification for an emulator served over HTTPS (bool or CA path).
    :param timeout: HTTP timeout in seconds (waits add their own).
    """

    def __init__(
        self,
        consul_addr: str,
        *,
        token: str | None = None,
        verify: bool | str = True,
        timeout: float = 30,
    ):
        self._http = httpx.Client(
            base_url=consul_addr.rstrip("/"),
            headers={"X-Consul-Token": token} if token else None,
            verify=verify,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"ConsulControl({str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, f"{PREFIX}{path}", **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(
                f"Consul emulator control {path}: {response.status_code} {response.text}"
                + (ACL_HINT if response.status_code == 403 else "")
            )
        return response.json()

    def reset(self) -> None:
        """Drop every registration, datacenter and token (the Raft index keeps rising)."""
        self._call("POST", "/reset")

    def set_serf_health(
        self, passing: bool, *, node: str | None = None, datacenter: str | None = None
    ) -> None:
        """Flip a node's ``serfHealth``: every instance on the node follows it."""
        self._call(
            "POST",
            "/serf-health",
            json={"Passing": passing, "Node": node, "Datacenter": datacenter},
        )

    def set_check_status(
        self,
        check_id: str,
        status: str,
        output: str = "",
        *,
        node: str | None = None,
        datacenter: str | None = None,
    ) -> None:
        """Set any check's status and output (TTL checks restart their TTL)."""
        self._call(
            "POST",
            f"/checks/{check_id}",
            json={"Status": status, "Output": output, "Node": node, "Datacenter": datacenter},
        )

    def add_datacenter(
        self, name: str, *, node: str | None = None, address: str = "127.0.0.2"
    ) -> None:
        """Add a federated datacenter with one healthy server node."""
        self._call("POST", "/datacenters", json={"Name": name, "Node": node, "Address": address})

    def create_token(self, rules: dict[str, Any], description: str = "") -> str:
        """Create an ACL token with ``rules`` (Consul's JSON policy syntax); returns its secret."""
        return self.create_token_ids(rules, description)[0]

    def create_token_ids(self, rules: dict[str, Any], description: str = "") -> tuple[str, str]:
        """Like :meth:`create_token`, returning ``(secret_id, accessor_id)``."""
        body = self._call("POST", "/tokens", json={"Rules": rules, "Description": description})
        return body["SecretID"], body["AccessorID"]

    def blocked_queries(self) -> int:
        """Blocking queries parked right now."""
        return self._call("GET", "/blocked")["Blocked"]

    def wait_for_blocked_queries(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Wait (server side, event-driven) until ``count`` queries are parked."""
        body = self._call(
            "GET",
            "/blocked",
            params={"count": str(count), "timeout": str(timeout)},
            timeout=timeout + 10,
        )
        return bool(body["Reached"])
