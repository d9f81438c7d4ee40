"""Claim 4: the emulator's own headroom, so claims 1-3 measure the provider, not the emulator.

- Cheap reads per second (``/v1/status/leader`` and a job read) from many keep-alive
  connections: ``wrk`` when installed, otherwise an asyncio load generator.
- Blocking queries held at once: N raw connections each send ``GET /v1/job/:id?index=I``; a
  read on a fresh connection must still answer promptly while they wait; then one write bumps
  the job, and every held query must answer with the new index (a query that had given up
  early would carry the old one). The time from the write to the last answer is reported.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from benchmarks.emulator import EmulatorProcess
from benchmarks.jobs import mock_batch
from benchmarks.profile import Profile
from benchmarks.stats import summarize

JOB_ID = "bench-headroom"
OPEN_CONCURRENCY = 200
BLOCKING_WAIT = "120s"
_WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_REQUESTS = re.compile(r"(\d+) requests in")
_WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


def wrk_load(url: str, connections: int, seconds: float) -> dict[str, Any] | None:
    """Requests/s ``wrk`` sustains on ``url``; ``None`` when wrk is not installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    out = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    rps = _WRK_RPS.search(out)
    total = _WRK_REQUESTS.search(out)
    errors = _WRK_ERRORS.search(out)
    if rps is None or total is None:
        raise RuntimeError(f"cannot read wrk's output: {out}")
    return {
        "tool": "wrk",
        "requests_per_s": float(rps.group(1)),
        "requests": int(total.group(1)),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return status, headers, body


def _request(path: str, host: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n".encode()


async def python_load(url: str, connections: int, seconds: float) -> dict[str, Any]:
    """A keep-alive asyncio load generator, used when wrk is not installed."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + seconds
    done = errors = 0

    async def client() -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        request = _request(path, parts.netloc)
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                status, _, _ = await _read_response(reader)
                done += 1
                errors += status >= 300
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.monotonic() - started
    return {
        "tool": "asyncio",
        "requests_per_s": done / elapsed,
        "requests": done,
        "non_2xx": errors,
    }


def cheap_reads(url: str, connections: int, seconds: float) -> dict[str, Any]:
    return wrk_load(url, connections, seconds) or asyncio.run(
        python_load(url, connections, seconds)
    )


async def hold_blocking_queries(nomad_addr: str, count: int) -> dict[str, Any]:
    """Hold ``count`` blocking queries on one job, probe, then wake them all with one write."""
    parts = urlsplit(nomad_addr)
    async with httpx.AsyncClient(base_url=nomad_addr, timeout=120) as api:
        reply = await api.put("/v1/jobs", json={"Job": mock_batch(JOB_ID, run_for=1)})
        reply.raise_for_status()
        index = int((await api.get(f"/v1/job/{JOB_ID}")).headers["X-Nomad-Index"])
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        request = _request(f"/v1/job/{JOB_ID}?index={index}&wait={BLOCKING_WAIT}", parts.netloc)

        async def open_one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            async with gate:
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                writer.write(request)
                await writer.drain()
                return reader, writer

        opened_at = time.monotonic()
        connections = await asyncio.gather(*(open_one() for _ in range(count)))
        open_seconds = time.monotonic() - opened_at
        # The emulator must stay responsive while it holds them all.
        probes = []
        for _ in range(20):
            t0 = time.perf_counter()
            (await api.get("/v1/status/leader")).raise_for_status()
            probes.append(time.perf_counter() - t0)
        job = mock_batch(JOB_ID, run_for=1)
        job["Meta"] = {"bump": str(time.time())}
        changed_at = time.monotonic()
        (await api.put("/v1/jobs", json={"Job": job})).raise_for_status()

        async def answer(reader: asyncio.StreamReader) -> tuple[int, int, float]:
            status, headers, _ = await _read_response(reader)
            return status, int(headers.get("x-nomad-index", "0")), time.monotonic()

        answers = await asyncio.wait_for(
            asyncio.gather(*(answer(r) for r, _ in connections), return_exceptions=True),
            timeout=120,
        )
        for _, writer in connections:
            writer.close()
    woken = [a for a in answers if isinstance(a, tuple) and a[0] == 200 and a[1] > index]
    last = max((a[2] for a in woken), default=changed_at)
    return {
        "requested": count,
        "held_until_change": len(woken),
        "failed": count - len(woken),
        "open_seconds": open_seconds,
        "probe_latency_s_while_held": summarize(probes),
        "wake_all_seconds": last - changed_at,
    }


class HeadroomBenchmark:
    """Measures one fresh emulator.

    :param profile: sizes.
    :param workdir: scratch directory.
    """

    def __init__(self, profile: Profile, workdir: Path) -> None:
        self.profile = profile
        self.workdir = workdir

    def run(self) -> dict[str, Any]:
        p = self.profile
        emulator = EmulatorProcess(self.workdir / "logs" / "emulator-headroom.log")
        try:
            emulator.start()
            with httpx.Client(base_url=emulator.nomad_addr, timeout=60) as api:
                reply = api.put("/v1/jobs", json={"Job": mock_batch("bench-read", run_for=1)})
                reply.raise_for_status()
            base = emulator.nomad_addr
            leader = cheap_reads(
                f"{base}/v1/status/leader", p.headroom_connections, p.headroom_seconds
            )
            job_read = cheap_reads(
                f"{base}/v1/job/bench-read", p.headroom_connections, p.headroom_seconds
            )
            blocking = asyncio.run(hold_blocking_queries(base, p.blocking_queries))
        finally:
            emulator.stop()
        return {
            "connections": p.headroom_connections,
            "seconds": p.headroom_seconds,
            "status_leader": leader,
            "job_read": job_read,
            "blocking_queries": blocking,
        }
