"""Agent administration: ``reload``, ``leave``, ``token/:type``, ``metrics`` and ``monitor``,
after ``agent/agent_endpoint.go`` and ``agent/http.go``.

The emulated agent has no configuration file to reload and no telemetry sink of its own:
``reload`` is acknowledged, ``leave`` closes the agent's port once answered (the emulator's
next reset starts a fresh agent there, see ``testing/consul_listener.py``), ``metrics`` reports
gauges computed from the emulator's state in go-metrics' JSON shape, and ``monitor`` streams
the agent's own log lines (what the emulated agent logs: maintenance, token updates, reloads).
Tokens set through ``/v1/agent/token`` are kept by the agent and never written to a log."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl import READ, WRITE
from airflow_provider_nomad.testing.consul.agent_log import AGENT_LOG
from airflow_provider_nomad.testing.consul.models import ConsulBackend
from airflow_provider_nomad.testing.consul.responses import (
    _backend,
    _empty_ok,
    _json,
    _path_rest,
    request_token,
)

ACL_DISABLED = "ACL support disabled"
PROMETHEUS_DISABLED = "Prometheus is not enabled since its retention time is not positive"
#: logging.ValidateLogLevel's allowed levels
LOG_LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "WARN": 30, "ERR": 40, "ERROR": 40}
#: ``PUT /v1/agent/token/:type`` targets -> the token each one sets
TOKEN_TARGETS = {
    "acl_token": "default",
    "default": "default",
    "acl_agent_token": "agent",
    "agent": "agent",
    "acl_agent_master_token": "agent_recovery",
    "agent_master": "agent_recovery",
    "agent_recovery": "agent_recovery",
    "acl_replication_token": "replication",
    "replication": "replication",
    "config_file_service_registration": "config_file_service_registration",
    "dns_token": "dns",
    "dns": "dns",
}


def _require_agent(request: Request, access: str) -> ConsulBackend:
    backend = _backend(request)
    authz = backend.acl.resolve(request_token(request))
    authz.require("agent", backend.node_name, access)
    return backend


async def agent_reload(request: Request) -> Response:
    _require_agent(request, WRITE)
    AGENT_LOG.info("agent: Reloading configuration...")
    return _empty_ok()


async def agent_leave(request: Request) -> Response:
    """``PUT /v1/agent/leave``: the agent leaves and exits once the answer is sent."""
    backend = _require_agent(request, WRITE)
    AGENT_LOG.info("agent: Gracefully shutting down agent...")
    response = _empty_ok()
    if backend.on_leave is not None:
        response.background = BackgroundTask(backend.on_leave)
    return response


async def agent_token(request: Request) -> Response:
    """``PUT /v1/agent/token/:type``: 401 without ACLs, as ``checkACLDisabled``."""
    backend = _backend(request)
    if not backend.acl.enabled:
        raise errors.ConsulHTTPError(401, ACL_DISABLED)
    _require_agent(request, WRITE)
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except json.JSONDecodeError as exc:
        raise errors.ConsulHTTPError(400, f"Request decode failed: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise errors.ConsulHTTPError(400, "Request decode failed: EOF")
    target = _path_rest(request, "target")
    slot = TOKEN_TARGETS.get(target)
    if slot is None:
        raise errors.ConsulHTTPError(404, f"Token {errors.go_quote(target)} is unknown")
    secret = next((str(v) for k, v in body.items() if str(k).lower() == "token"), "")
    with backend.lock:
        backend.agent_tokens[slot] = secret
    AGENT_LOG.info("agent: Updated agent's ACL token: token=%s", target)  # the name only
    return _empty_ok()


def _metrics_summary(backend: ConsulBackend) -> dict:
    """go-metrics' ``MetricsSummary`` with the usage gauges Consul's servers report."""
    with backend.lock:
        dc = backend.datacenter(None)
        nodes = len(dc.nodes)
        instances = [s for node in dc.nodes.values() for s in node.services.values()]
        kv_entries = len(dc.kv.entries)
        sessions = len(dc.sessions)
    labels = {"datacenter": dc.name}
    gauges = {
        "consul.state.nodes": nodes,
        "consul.state.services": len({s.name for s in instances}),
        "consul.state.service_instances": len(instances),
        "consul.state.kv_entries": kv_entries,
        "consul.session.num_sessions": sessions,
    }
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return {
        "Timestamp": now.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
        "Gauges": [
            {"Name": name, "Value": float(value), "Labels": dict(labels)}
            for name, value in gauges.items()
        ],
        "Points": [],
        "Counters": [],
        "Samples": [],
    }


async def agent_metrics(request: Request) -> Response:
    backend = _require_agent(request, READ)
    if request.query_params.get("format") == "prometheus":
        # A CodeWithPayloadError with no object: Consul's handler returns before writing the
        # status, so the client gets 200, an empty body and the reason in a header.
        return Response(b"", status_code=200, headers={"X-Consul-Reason": PROMETHEUS_DISABLED})
    return _json(request, _metrics_summary(backend))


class _QueueHandler(logging.Handler):
    """Hands the agent's log records to one monitor stream (never blocks the logger)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, level: int) -> None:
        super().__init__(level)
        self.loop = loop
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=512)

    def emit(self, record: logging.LogRecord) -> None:
        stamp = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
        level = {"WARNING": "WARN", "CRITICAL": "ERROR"}.get(record.levelname, record.levelname)
        line = f"{stamp.replace('+00:00', 'Z')} [{level}]  {record.getMessage()}"
        self.loop.call_soon_threadsafe(self._put, line)

    def _put(self, line: str) -> None:
        if not self.queue.full():  # Consul drops lines a slow reader cannot take
            self.queue.put_nowait(line)


async def agent_monitor(request: Request) -> Response:
    """``GET /v1/agent/monitor?loglevel=``: the agent's log lines until the client leaves."""
    _require_agent(request, READ)
    level = request.query_params.get("loglevel") or "INFO"
    if level.upper() not in LOG_LEVELS:
        raise errors.ConsulHTTPError(400, f"Unknown log level: {level}")
    handler = _QueueHandler(asyncio.get_running_loop(), LOG_LEVELS[level.upper()])

    # Registered before the answer starts, so a client that has the headers gets every line
    # logged after them.
    AGENT_LOG.addHandler(handler)

    async def lines() -> AsyncIterator[bytes]:
        try:
            while True:
                yield (await handler.queue.get()).encode() + b"\n"
        finally:
            AGENT_LOG.removeHandler(handler)

    return StreamingResponse(lines(), media_type="text/plain")


ENDPOINTS = (
    ("/v1/agent/reload", ("PUT",), agent_reload),
    ("/v1/agent/leave", ("PUT",), agent_leave),
    ("/v1/agent/token/{target:path}", ("PUT",), agent_token),
    ("/v1/agent/metrics", ("GET",), agent_metrics),
    ("/v1/agent/monitor", ("GET",), agent_monitor),
)
