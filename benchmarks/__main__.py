"""``python -m benchmarks [--quick] [--out DIR] [--only CLAIM ...]``: run, report, print the table.

The schedule keeps the whole run short without letting measurements disturb each other:

1. every waiter lane of claim 1 starts at once (long batches side by side, 600 s included);
2. once the short-latency lanes and the shorter long batches are done, the other claims run
   one after another while the longest batches are still waiting quietly (a poll every few
   seconds at most);
3. the run ends when the longest batches are done.

The smoke run (``--quick``) checks correctness only, so there every claim runs at once.

Exit status 0 means the harness worked; targets that are missed are results (FAIL in the
table), not harness errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.claims.executor import ExecutorBenchmark
from benchmarks.claims.headroom import HeadroomBenchmark
from benchmarks.claims.logs import LogBenchmark
from benchmarks.claims.task_end import TaskEndBenchmark
from benchmarks.claims.triggers import TriggerBenchmark
from benchmarks.claims.wait import WaitBenchmark
from benchmarks.emulator import raise_open_file_limit
from benchmarks.profile import PROFILES, Profile
from benchmarks.report import targets_table, write

CLAIMS = ("wait", "task_end", "headroom", "logs", "triggers", "executor")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"


class Run:
    """One benchmark run: its schedule, results and harness errors."""

    def __init__(self, profile: Profile, workdir: Path) -> None:
        self.profile = profile
        self.workdir = workdir
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self.schedule: list[dict[str, Any]] = []
        self.claims: dict[str, Any] = {}
        self.errors: list[str] = []

    def run_claim(self, key: str, name: str, fn: Callable[[], Any]) -> None:
        self.claims[key] = self.phase(name, fn)

    def phase(self, name: str, fn: Callable[[], Any]) -> Any:
        start = time.monotonic() - self.t0
        print(f"[bench {start:6.0f} s] {name} ...", flush=True)
        try:
            return fn()
        except Exception as exc:
            self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            return None
        finally:
            self.schedule.append({"phase": name, "start": start, "end": time.monotonic() - self.t0})


def run(profile: Profile, claims: tuple[str, ...], out: Path, keep: bool) -> int:
    raise_open_file_limit()
    workdir = Path(tempfile.mkdtemp(prefix="nomad-bench-"))
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    bench = Run(profile, workdir)
    wait: WaitBenchmark | None = None
    others: list[tuple[str, str, Callable[[], Any]]] = []
    if "task_end" in claims:
        label = "1b: batch end to task end through Airflow"
        others.append(("task_end", label, TaskEndBenchmark(profile, workdir).run))
    if "headroom" in claims:
        others.append(("headroom", "4: emulator headroom", HeadroomBenchmark(profile, workdir).run))
    if "logs" in claims:
        others.append(("logs", "2: log streaming", LogBenchmark(profile, workdir).run))
    if "triggers" in claims:
        label = f"3: {profile.triggers} triggers"
        others.append(("triggers", label, TriggerBenchmark(profile, workdir).run))
    if "executor" in claims:
        label = "5: NomadExecutor with " + ", ".join(map(str, profile.executor_tasks)) + " tasks"
        others.append(("executor", label, ExecutorBenchmark(profile, workdir).run))
    try:
        if "wait" in claims:
            wait = WaitBenchmark(profile, workdir)
            errors_before = len(bench.errors)
            bench.phase("1: start every waiter lane", wait.start)
            if len(bench.errors) > errors_before:
                wait.stop()
                wait = None
            elif not profile.concurrent_claims:
                shortest = min(profile.long_batches)
                bench.phase(
                    f"1: short batches and {shortest:g} s batches",
                    lambda: wait.wait_lanes(shortest),  # type: ignore[union-attr]
                )
        if profile.concurrent_claims:
            # Smoke run: correctness only, so the claims may share the CPU.
            threads = [
                threading.Thread(target=bench.run_claim, args=(key, label, fn))
                for key, label, fn in others
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        else:
            for key, label, fn in others:
                bench.run_claim(key, label, fn)
        if bench.claims.get("task_end"):
            bench.errors += [f"task_end: {e}" for e in bench.claims["task_end"]["errors"]]
        if wait is not None:
            bench.claims["wait"] = bench.phase("1: remaining long batches", wait.finish)
            if bench.claims["wait"]:
                bench.errors += [f"wait: {e}" for e in bench.claims["wait"]["errors"]]
    finally:
        if wait is not None:
            wait.stop()
    results = {
        "meta": {
            "profile": profile.to_dict(),
            "started": started.isoformat(),
            "duration_s": time.monotonic() - bench.t0,
            "t0_wall": bench.t0_wall,
            "host": {
                "cpus": _cpus(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "schedule": bench.schedule,
        },
        "claims": {k: v for k, v in bench.claims.items() if v is not None},
        "errors": bench.errors,
    }
    rows, _ = write(results, out)
    print()
    print(targets_table(rows))
    print(f"\nResults in {out}/results.md, results.json")
    if bench.errors:
        print(f"\n{len(bench.errors)} harness error(s); scratch kept in {workdir}:")
        for error in bench.errors:
            print(f"  - {error[:500]}")
        return 1
    if keep:
        print(f"scratch kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory")
    parser.add_argument("--only", nargs="+", choices=CLAIMS, help="run only these claims")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: rewrite results.md and the plots from OUT/results.json",
    )
    parser.add_argument(
        "--triggers",
        type=int,
        metavar="N",
        help="size of claim 3's trigger swarm (default: the profile's)",
    )
    parser.add_argument(
        "--trigger-repeats", type=int, metavar="R", help="repeats of claim 3 (per waiting mode)"
    )
    parser.add_argument(
        "--trigger-run-for",
        type=float,
        nargs=2,
        metavar=("FIRST", "LAST"),
        help="claim 3's batch durations in seconds (longer for big swarms, whose dispatch "
        "takes long: every batch must still run when the triggers start)",
    )
    parser.add_argument(
        "--no-trigger-logs",
        action="store_true",
        help="claim 3's triggers only wait (stream_logs=False): the cost of waiting alone",
    )
    parser.add_argument(
        "--trigger-handover",
        choices=("burst", "streamed"),
        help="how claim 3's jobs reach the triggers: all at once once dispatched (burst, the "
        "default) or as they are dispatched, once a second (streamed)",
    )
    parser.add_argument(
        "--trigger-dispatch-rate",
        type=float,
        metavar="PER_S",
        help="dispatches a second with --trigger-handover streamed (default: 50)",
    )
    parser.add_argument(
        "--trigger-waiting-repeats",
        type=int,
        metavar="R",
        help="repeats of claim 3's waiting-alone runs handed over as dispatched (0: none)",
    )
    args = parser.parse_args(argv)
    if args.report_only:
        results = json.loads((args.out / "results.json").read_text())
        rows, _ = write(results, args.out)
        print(targets_table(rows))
        return 0
    profile = PROFILES["quick" if args.quick else "full"]
    if args.triggers:
        profile = dataclasses.replace(profile, triggers=args.triggers)
    if args.trigger_repeats:
        profile = dataclasses.replace(profile, trigger_repeats=args.trigger_repeats)
    if args.trigger_run_for:
        profile = dataclasses.replace(profile, trigger_run_for=tuple(args.trigger_run_for))
    if args.no_trigger_logs:
        profile = dataclasses.replace(profile, trigger_logs=False)
    if args.trigger_handover:
        profile = dataclasses.replace(profile, trigger_handover=args.trigger_handover)
    if args.trigger_waiting_repeats is not None:
        profile = dataclasses.replace(profile, trigger_waiting_repeats=args.trigger_waiting_repeats)
    if args.trigger_dispatch_rate:
        profile = dataclasses.replace(profile, trigger_dispatch_rate=args.trigger_dispatch_rate)
    return run(profile, tuple(args.only or CLAIMS), args.out, args.keep)


if __name__ == "__main__":
    sys.exit(main())
