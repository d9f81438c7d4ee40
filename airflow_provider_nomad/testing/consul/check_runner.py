"""The agent running its own checks: script checks and HTTP checks, after Consul's
``agent/checks/check.go`` (``CheckMonitor``, ``CheckHTTP``).

A script check runs its ``Args`` as a local subprocess every ``Interval``, killed after
``Timeout`` (30 s by default): exit 0 is passing, 1 warning, anything else critical; stdout and
stderr together are the output (its last 4 KiB). An HTTP check requests its URL every
``Interval`` (10 s timeout by default): 2xx is passing, 429 warning, anything else critical.
Script checks run only on an emulator started with script checks enabled, as on a Consul agent
(``enable_script_checks``); otherwise registering one is refused with Consul's error.

A check runs for as long as the very record it was started for is registered: a
re-registration, a deregistration or a reset stops it. Unlike Consul, the first run is not
staggered by a random part of the interval: it starts at once, so tests need not guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import TYPE_CHECKING

import httpx

from airflow_provider_nomad.testing.consul.definitions import (
    CRITICAL,
    PASSING,
    WARNING,
    CheckSpec,
)
from airflow_provider_nomad.testing.consul.durations import format_duration

if TYPE_CHECKING:
    from airflow_provider_nomad.testing.consul.models import ConsulBackend
    from airflow_provider_nomad.testing.consul.records import HealthCheck

BUF_SIZE = 4096  # checks.BufSize
DEFAULT_SCRIPT_TIMEOUT = 30.0
DEFAULT_HTTP_TIMEOUT = 10.0
USER_AGENT = "Consul Health Check"


class CheckRunner:
    """Runs the script and HTTP checks registered on the agent, on the API's event loop."""

    def __init__(self, backend: ConsulBackend) -> None:
        self._backend = backend
        self._tasks: set[asyncio.Task] = set()

    def watch(self, dc_name: str, node_name: str, check: HealthCheck, spec: CheckSpec) -> None:
        """Start running ``check`` if it is a script or HTTP check (the caller holds the lock)."""
        if not (spec.is_script or spec.http) or spec.interval <= 0:
            return
        self._backend.feed.call_later(0, lambda: self._spawn(dc_name, node_name, check, spec))

    def _spawn(self, dc_name: str, node_name: str, check: HealthCheck, spec: CheckSpec) -> None:
        task = asyncio.ensure_future(self._loop(dc_name, node_name, check, spec))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _still_registered(self, dc_name: str, node_name: str, check: HealthCheck) -> bool:
        with self._backend.lock:
            dc = self._backend.datacenter_or_none(dc_name)
            node = dc.nodes.get(node_name) if dc else None
            return node is not None and node.checks.get(check.check_id) is check

    async def _loop(
        self, dc_name: str, node_name: str, check: HealthCheck, spec: CheckSpec
    ) -> None:
        while self._still_registered(dc_name, node_name, check):
            if spec.is_script:
                status, output = await run_script(spec.script_args, spec.timeout)
            else:
                status, output = await run_http(spec)
            if not self._backend.record_check_result(dc_name, node_name, check, status, output):
                return  # deregistered or replaced while it ran
            await asyncio.sleep(spec.interval)  # the check's own schedule, as Consul's ticker


def _truncated(data: bytes) -> str:
    """``CheckMonitor``'s output: the last :data:`BUF_SIZE` bytes, said so when cut."""
    if len(data) <= BUF_SIZE:
        return data.decode(errors="replace")
    tail = data[-BUF_SIZE:].decode(errors="replace")
    return f"Captured {BUF_SIZE} of {len(data)} bytes\n...\n{tail}"


async def run_script(args: list[str], timeout: float) -> tuple[str, str]:
    """One run of a script check: (status, output)."""
    limit = timeout or DEFAULT_SCRIPT_TIMEOUT
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # so a timeout kills the whole process group
        )
    except OSError as exc:
        return CRITICAL, str(exc)  # Consul reports the failed start as it is
    try:
        output, _ = await asyncio.wait_for(process.communicate(), limit)
    except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        return CRITICAL, f"Timed out ({format_duration(limit)}) running check"
    code = process.returncode
    status = PASSING if code == 0 else WARNING if code == 1 else CRITICAL
    return status, _truncated(output)


async def run_http(spec: CheckSpec) -> tuple[str, str]:
    """One run of an HTTP check: (status, output) as ``CheckHTTP.check`` words them."""
    method = spec.method or "GET"
    headers = {"User-Agent": USER_AGENT, "Accept": "text/plain, text/*, */*"}
    for name, values in spec.header.items():
        if values:
            headers[name] = values[0]
    limit = spec.timeout or DEFAULT_HTTP_TIMEOUT
    try:
        async with httpx.AsyncClient(
            timeout=limit, verify=not spec.tls_skip_verify, follow_redirects=False
        ) as client:
            response = await client.request(method, spec.http, headers=headers)
    except httpx.HTTPError as exc:
        return CRITICAL, f'{method.capitalize()} "{spec.http}": {exc or type(exc).__name__}'
    body = response.content[:BUF_SIZE].decode(errors="replace")
    reason = f"{response.status_code} {response.reason_phrase}"
    output = f"HTTP {method} {spec.http}: {reason} Output: {body}"
    if 200 <= response.status_code < 300:
        return PASSING, output
    if response.status_code == 429:
        return WARNING, output
    return CRITICAL, output
