"""Sizes of a benchmark run: the full run of ``make bench`` and the quick smoke run.

Everything that makes a run long or short lives here, so the two modes differ only in numbers,
never in code paths: the smoke test exercises exactly what ``make bench`` measures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MIB = 1024 * 1024
GIB = 1024 * MIB


@dataclass(frozen=True)
class Profile:
    """How big each benchmark is.

    :param name: ``full`` or ``quick``.
    :param latency_runs: short batches waited on one after another, per provider path.
    :param latency_run_for: (min, max) seconds of those batches, drawn at random so the
        moment a batch ends falls anywhere in a baseline's poll cycle.
    :param latency_budget_s: no new short batch starts after this many seconds of a lane
        (at least one always runs), so a slow waiter cannot stretch the run unboundedly.
    :param baseline_latency_runs: short batches per baseline waiter (run side by side).
    :param batch_print_every: claim 1's batches print a line every that many seconds for their
        whole run, so the waiters' log reading is exercised.
    :param long_batches: batch durations (seconds) whose request counts are compared.
    :param long_repeats: repeats of each long batch, per waiter, as ``{duration: repeats}``.
    :param baseline_interval_scale: multiplies the baselines' 10 s / 5 s poll intervals; 1 in
        the full run (the intervals are what is measured), smaller in the smoke run.
    :param log_bytes: bytes the log-writing batch prints to stdout.
    :param log_line_bytes: length of each of its lines, newline included.
    :param log_max_files: ``LogConfig.MaxFiles`` of that batch.
    :param log_file_mb: ``LogConfig.MaxFileSizeMB`` of that batch.
    :param log_repeats: reads of the whole log per reader (curl, follower).
    :param triggers: triggers run at once in one event loop.
    :param trigger_repeats: repeats of the trigger swarm.
    :param trigger_run_for: (first, last) batch duration in seconds; batches are staggered
        evenly between the two so their ends spread over time.
    :param trigger_logs: the swarm's triggers stream their batches' logs (two followed log
        streams per running batch, as a deferred operator does by default).
    :param trigger_handover: how the jobs reach the swarm: ``burst`` (all at once, after every
        dispatch) or ``streamed`` (as dispatched, once a second); see ``claims/triggers.py``.
    :param trigger_dispatch_rate: dispatches a second when ``streamed`` (32 Airflow workers
        starting a task each every 0.6 s dispatch about 50 a second).
    :param trigger_waiting_repeats: repeats of claim 3's second variant, triggers that only
        wait, handed over as dispatched (``claims/triggers.py``: ``WAITING``); 0 skips it.
    :param headroom_seconds: length of each throughput measurement of the emulator.
    :param headroom_connections: concurrent client connections for it.
    :param blocking_queries: blocking queries held open at once against the emulator.
    :param executor_tasks: NomadExecutor tries running at once, one size after another.
    :param executor_window_s: the quiet window in which the executor's requests are counted
        while every try runs (a minute, so the figure reads as requests per minute).
    :param task_end_runs: DAG runs per provider path through the real Airflow deployment of
        claim 1b (sync and deferrable side by side, one run of each at a time).
    :param task_end_budget_s: no new DAG run of claim 1b starts after this many seconds.
    :param concurrent_claims: run claims 2-4 side by side with claim 1 (the smoke run, where
        only correctness is checked) instead of one after another (``make bench``).
    """

    name: str
    latency_runs: int
    latency_run_for: tuple[float, float]
    latency_budget_s: float
    baseline_latency_runs: int
    batch_print_every: float
    long_batches: tuple[float, ...]
    long_repeats: dict[float, int]
    baseline_interval_scale: float
    log_bytes: int
    log_line_bytes: int
    log_max_files: int
    log_file_mb: int
    log_repeats: int
    triggers: int
    trigger_repeats: int
    trigger_run_for: tuple[float, float]
    headroom_seconds: float
    headroom_connections: int
    blocking_queries: int
    executor_tasks: tuple[int, ...]
    executor_window_s: float
    task_end_runs: int
    task_end_budget_s: float
    concurrent_claims: bool
    trigger_logs: bool = True
    trigger_handover: str = "burst"
    trigger_dispatch_rate: float = 50.0
    trigger_waiting_repeats: int = 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["long_repeats"] = {str(k): v for k, v in self.long_repeats.items()}
        return data


FULL = Profile(
    name="full",
    latency_runs=110,
    latency_run_for=(0.5, 1.5),
    latency_budget_s=200.0,
    baseline_latency_runs=12,
    batch_print_every=0.05,
    long_batches=(60.0, 600.0),
    long_repeats={60.0: 3, 600.0: 2},
    baseline_interval_scale=1.0,
    log_bytes=GIB,
    log_line_bytes=160,
    # 11 files of 100 MiB keep the whole GiB (10 would drop its first 24 MiB).
    log_max_files=11,
    log_file_mb=100,
    log_repeats=3,
    triggers=1000,
    trigger_repeats=2,
    trigger_run_for=(40.0, 60.0),
    headroom_seconds=5.0,
    headroom_connections=32,
    blocking_queries=4000,
    executor_tasks=(1, 50, 500),
    executor_window_s=60.0,
    task_end_runs=40,
    task_end_budget_s=300.0,
    concurrent_claims=False,
)

QUICK = Profile(
    name="quick",
    latency_runs=4,
    latency_run_for=(0.3, 0.8),
    latency_budget_s=10.0,
    baseline_latency_runs=2,
    batch_print_every=0.05,
    long_batches=(5.0,),
    long_repeats={5.0: 1},
    baseline_interval_scale=0.1,
    log_bytes=5 * MIB,
    log_line_bytes=160,
    log_max_files=3,
    log_file_mb=2,
    log_repeats=1,
    triggers=20,
    trigger_repeats=1,
    trigger_run_for=(4.0, 5.0),
    trigger_dispatch_rate=10.0,
    headroom_seconds=1.0,
    headroom_connections=8,
    blocking_queries=200,
    executor_tasks=(1, 5),
    executor_window_s=3.0,
    task_end_runs=2,
    task_end_budget_s=60.0,
    concurrent_claims=True,
)

PROFILES = {p.name: p for p in (FULL, QUICK)}
