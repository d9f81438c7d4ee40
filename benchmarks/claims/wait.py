"""Claim 1: how soon each waiter notices a batch has ended, and how many requests it costs.

Four waiters, each in its own process: the provider's sync path (the operator's own
``_follow``), its deferrable path (``NomadJobTrigger.run``), and two peers' polling loops
(:mod:`benchmarks.waiters.peers`). Each waiter gets lanes, one emulator per lane:

- a *latency* lane: many short batches whose lengths are drawn at random (so their ends fall
  anywhere in a peer's poll cycle), waited one after another for the provider's paths and all
  at once for the peers (whose requests are counted client-side);
- *long* lanes: one batch of each long duration (60 s, 600 s) per repeat, all running side by
  side, whose waits are counted on the emulator (counters reset after dispatch).

Latency is the time from the batch's end as the emulator recorded it (the task's
``FinishedAt``) to the waiter returning; the allocation's ``ModifyTime`` gives a second view.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from benchmarks.emulator import EmulatorProcess, start_all
from benchmarks.load import machine_load
from benchmarks.procs import WorkerProcess, worker_env, write_spec
from benchmarks.profile import Profile
from benchmarks.stats import spread, summarize
from benchmarks.waiters.kinds import (
    AIRFLOW_NOMAD_021,
    AIRFLOW_NOMAD_021_LOGS,
    DEFERRABLE,
    NOMAD_007,
    PREFECT_NOMAD_020,
    SYNC,
)

KINDS = (SYNC, DEFERRABLE, NOMAD_007, AIRFLOW_NOMAD_021, AIRFLOW_NOMAD_021_LOGS, PREFECT_NOMAD_020)
PROVIDER_KINDS = (SYNC, DEFERRABLE)
LABELS = {
    SYNC: "provider, sync (operator)",
    DEFERRABLE: "provider, deferrable (trigger + execute_complete)",
    NOMAD_007: "apache-airflow-providers-nomad 0.0.7",
    AIRFLOW_NOMAD_021: "airflow-nomad 0.2.1 (default: forward_logs off)",
    AIRFLOW_NOMAD_021_LOGS: "airflow-nomad 0.2.1, forward_logs=True",
    PREFECT_NOMAD_020: "prefect-nomad 0.2.0",
}
PEER_INTERVALS = {
    NOMAD_007: 10.0,
    AIRFLOW_NOMAD_021: 5.0,
    AIRFLOW_NOMAD_021_LOGS: 5.0,
    PREFECT_NOMAD_020: 1.0,
}
SLUGS = {
    SYNC: "sync",
    DEFERRABLE: "deferrable",
    NOMAD_007: "nomad007",
    AIRFLOW_NOMAD_021: "airflownomad021",
    AIRFLOW_NOMAD_021_LOGS: "airflownomad021logs",
    PREFECT_NOMAD_020: "prefectnomad020",
}
SHORT = "short"
#: How often a long wait checks that every emulator is still alive.
WATCHDOG_S = 15.0


def _duration_key(seconds: float) -> str:
    return f"{seconds:g}s"


class WaitBenchmark:
    """Starts every lane at once; the long ones keep running while other claims are measured.

    :param profile: sizes.
    :param workdir: scratch directory (specs, logs).
    :param seed: seed of the random batch lengths.
    """

    def __init__(self, profile: Profile, workdir: Path, seed: int = 7) -> None:
        self.profile = profile
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.emulators: list[EmulatorProcess] = []
        self.workers: dict[str, WorkerProcess] = {}
        self.lanes: dict[str, list[dict[str, Any]]] = {}
        self._done: dict[str, set[str]] = {}
        self.started_at: float | None = None
        self.load_before: dict[str, Any] | None = None

    # -- set-up ---------------------------------------------------------------------------------

    def _lane(self, kind: str, name: str, runs: list[float], mode: str) -> dict[str, Any]:
        """A lane: its own emulator, its batches, and how they are waited for."""
        emulator = EmulatorProcess(self.workdir / "logs" / f"emulator-{name}.log")
        self.emulators.append(emulator)
        return {
            "name": name,
            "emulator": emulator,
            "conn_id": f"nomad_{name.replace('-', '_')}",
            "runs": runs,
            "mode": mode,
            "budget_s": self.profile.latency_budget_s if len(runs) > 1 else None,
            # The provider's latency lanes start with one untimed wait (reported apart).
            "warmup": kind in PROVIDER_KINDS and len(runs) > 1,
            "duration": SHORT if mode == "concurrent" or len(runs) > 1 else runs[0],
        }

    def _plan(self) -> None:
        p = self.profile
        for kind in KINDS:
            slug = SLUGS[kind]
            if kind in PROVIDER_KINDS:
                lo, hi = p.latency_run_for
                runs = [round(self.rng.uniform(lo, hi), 3) for _ in range(p.latency_runs)]
                lanes = [self._lane(kind, f"{slug}-{SHORT}", runs, "sequential")]
            else:
                cycle = PEER_INTERVALS[kind] * p.baseline_interval_scale
                runs = [
                    round(0.5 + self.rng.uniform(0, cycle), 3)
                    for _ in range(p.baseline_latency_runs)
                ]
                lanes = [self._lane(kind, f"{slug}-{SHORT}", runs, "concurrent")]
            for duration in p.long_batches:
                for repeat in range(p.long_repeats[duration]):
                    name = f"{slug}-{_duration_key(duration)}-r{repeat + 1}"
                    lanes.append(self._lane(kind, name, [duration], "sequential"))
            self.lanes[kind] = lanes

    def start(self) -> None:
        """Start emulators and waiter processes, then release every lane at once."""
        self._plan()
        start_all(self.emulators)
        airflow_home = self.workdir / "airflow-home"
        for kind, lanes in self.lanes.items():
            spec = {
                "kind": kind,
                "interval_scale": self.profile.baseline_interval_scale,
                "result_path": str(self.workdir / f"wait-{SLUGS[kind]}.json"),
                "cli_dir": str(self.workdir / "bin"),
                "lanes": [
                    {
                        "name": lane["name"],
                        "nomad_addr": lane["emulator"].nomad_addr,
                        "conn_id": lane["conn_id"],
                        "runs": lane["runs"],
                        "mode": lane["mode"],
                        "budget_s": lane["budget_s"],
                        "warmup": lane["warmup"],
                        "print_every": self.profile.batch_print_every,
                    }
                    for lane in lanes
                ],
            }
            path = write_spec(self.workdir / "specs", f"wait-{SLUGS[kind]}", spec)
            self.workers[kind] = WorkerProcess(
                "benchmarks.workers.wait_lane",
                [str(path)],
                self.workdir / "logs" / f"worker-wait-{SLUGS[kind]}.log",
                worker_env(airflow_home),
            ).start()
            self._done[kind] = set()
        for worker in self.workers.values():
            worker.wait_for("ready", timeout=300)
        self.load_before = machine_load()
        for worker in self.workers.values():
            worker.send(command="go")
        self.started_at = time.time()

    # -- waiting --------------------------------------------------------------------------------

    def _expected_end(self, lane: dict[str, Any]) -> float:
        runs = lane["runs"]
        total = sum(runs) if lane["mode"] == "sequential" else max(runs)
        if lane["budget_s"] is not None:
            total = min(total, lane["budget_s"] + max(runs))
        # Peers add up to two poll intervals; every wait also has set-up and read-back costs.
        # Each wait may also take the follower's 30 s log drain.
        return total + 2 * max(PEER_INTERVALS.values()) + 2.0 * len(runs) + 90.0

    def wait_lanes(self, longest: float | None) -> None:
        """Block until every lane whose batches last at most ``longest`` s (all if None) ends."""
        for kind, lanes in self.lanes.items():
            wanted = {
                lane["name"]
                for lane in lanes
                if longest is None or lane["duration"] == SHORT or lane["duration"] <= longest
            }
            worker = self.workers[kind]
            budget = max(self._expected_end(lane) for lane in lanes if lane["name"] in wanted)
            deadline = time.monotonic() + budget
            while not wanted <= self._done[kind]:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{kind}: lanes {sorted(wanted - self._done[kind])} "
                        f"did not end within {budget:.0f} s"
                    )
                try:
                    message = worker.wait_for("lane_done", timeout=WATCHDOG_S)
                except TimeoutError:
                    self._check_emulators()
                    continue
                self._done[kind].add(message["lane"])

    def _check_emulators(self) -> None:
        """Fail fast when an emulator has died: its waiters could only retry until they give up."""
        dead = [e for e in self.emulators if not e.alive]
        if dead:
            names = ", ".join(f"{e.log_path.name} (exit {e.returncode})" for e in dead)
            raise RuntimeError(f"emulator(s) exited during the run: {names}")

    def finish(self) -> dict[str, Any]:
        """Wait for every lane, stop the emulators, and summarize."""
        try:
            self.wait_lanes(None)
            results = {}
            for kind, worker in self.workers.items():
                worker.wait_for("done", timeout=120)
                worker.wait(timeout=60)
                path = self.workdir / f"wait-{SLUGS[kind]}.json"
                results[kind] = json.loads(path.read_text())
            return self._summarize(results)
        finally:
            self.stop()

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        for emulator in self.emulators:
            emulator.stop()

    # -- results ----------------------------------------------------------------------------

    def _lane_runs(self, kind: str, name_suffix: str) -> list[float]:
        name = f"{SLUGS[kind]}-{name_suffix}"
        return next(lane["runs"] for lane in self.lanes[kind] if lane["name"] == name)

    def _summarize(self, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        waiters: dict[str, Any] = {}
        records: list[dict[str, Any]] = []
        errors: list[str] = []
        for kind in KINDS:
            data = results[kind]
            records.extend(data["records"])
            errors.extend(f"{kind}: {e}" for e in data["errors"])
            by_lane: dict[str, list[dict[str, Any]]] = {}
            for record in data["records"]:
                by_lane.setdefault(record["lane"], []).append(record)
            short_lane = by_lane.get(f"{SLUGS[kind]}-{SHORT}", [])
            short = [r for r in short_lane if not r.get("warmup")]
            warmups = [r for r in short_lane if r.get("warmup")]
            entry: dict[str, Any] = {
                "label": LABELS[kind],
                "children_cpu_s": data.get("children_cpu_s"),
                "poll_interval_s": (
                    PEER_INTERVALS[kind] * self.profile.baseline_interval_scale
                    if kind in PEER_INTERVALS
                    else None
                ),
                "latency_s": summarize(r["latency_s"] for r in short if r["latency_s"] is not None),
                "latency_from_alloc_modify_s": summarize(
                    r["latency_from_alloc_modify_s"]
                    for r in short
                    if r["latency_from_alloc_modify_s"] is not None
                ),
                "latency_samples_s": [r["latency_s"] for r in short],
                "short_batches": {
                    "planned": len(self._lane_runs(kind, SHORT)),
                    "waited": len(short),
                    "warmups": len(warmups),
                },
                "first_wait_latency_s": warmups[0]["latency_s"] if warmups else None,
                "short_batch_requests": spread(_requests(r) for r in short),
                "long": {},
            }
            for duration in self.profile.long_batches:
                key = _duration_key(duration)
                runs = [
                    r
                    for name, lane_records in by_lane.items()
                    if name.startswith(f"{SLUGS[kind]}-{key}-")
                    for r in lane_records
                ]
                entry["long"][key] = {
                    "batch_s": duration,
                    "repeats": len(runs),
                    "requests": spread(_requests(r) for r in runs),
                    "client_requests": spread(
                        r["client_requests"] for r in runs if "client_requests" in r
                    ),
                    "latency_s": spread(r["latency_s"] for r in runs if r["latency_s"] is not None),
                    "requests_by_route": runs[0].get("requests_by_route") if runs else None,
                    "log_lines_per_batch_line": spread(
                        r["log_lines"] / r["batch_lines"] for r in runs if r.get("batch_lines")
                    ),
                    "cli_processes_per_poll": spread(
                        r["cli_processes"] / r["polls"] for r in runs if r.get("cli_processes")
                    ),
                }
            waiters[kind] = entry
        return {
            "waiters": waiters,
            "records": records,
            "errors": errors,
            "load_before": self.load_before,
            "load_after": machine_load(),
        }


def _requests(record: dict[str, Any]) -> int:
    """Requests of one wait: the emulator's count when it counted alone, else the waiter's."""
    if "requests" in record:
        return record["requests"]
    return record["client_requests"]
