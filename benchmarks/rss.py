"""Sampling another process's memory and CPU from outside it (psutil, a background thread)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psutil

DEFAULT_INTERVAL = 0.02


class ProcessSampler:
    """Records a process's RSS (and CPU seconds) every ``interval`` seconds until stopped.

    The sampling thread waits on an event with a timeout between samples, so stopping it is
    immediate and the loop is bounded by the process's life.

    :param pid: the process to watch.
    :param interval: seconds between samples.
    """

    def __init__(self, pid: int, interval: float = DEFAULT_INTERVAL) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []  # (seconds since start, rss bytes)
        self.cpu_seconds: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = 0.0

    def start(self) -> ProcessSampler:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            process = psutil.Process(self.pid)
            while True:
                with process.oneshot():
                    rss = process.memory_info().rss
                    times = process.cpu_times()
                self.samples.append((time.monotonic() - self._t0, rss))
                self.cpu_seconds = times.user + times.system
                if self._stop.wait(self.interval):
                    return
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return

    def stop(self) -> ProcessSampler:
        self._stop.set()
        self._thread.join(timeout=5)
        return self

    @property
    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    def peak_between(self, start: float, end: float) -> int:
        """Highest RSS sampled between two ``time.monotonic()`` instants."""
        lo, hi = start - self._t0, end - self._t0
        return max((rss for t, rss in self.samples if lo <= t <= hi), default=0)

    def timeline(self, max_points: int = 2000) -> list[tuple[float, int]]:
        """The samples, thinned to at most ``max_points`` (keeping each bucket's peak)."""
        if len(self.samples) <= max_points:
            return list(self.samples)
        step = len(self.samples) / max_points
        out = []
        for i in range(max_points):
            bucket = self.samples[int(i * step) : int((i + 1) * step)] or [self.samples[-1]]
            out.append(max(bucket, key=lambda s: s[1]))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"peak_rss": self.peak, "samples": len(self.samples)}
