"""Turning measurements into ``results.json``, ``results.md`` (targets with PASS/FAIL) and plots."""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.claims.wait import KINDS, LABELS, PROVIDER_KINDS, SYNC
from benchmarks.waiters.kinds import AIRFLOW_NOMAD_021

MB = 1_000_000
PASS, FAIL, NOT_RUN = "PASS", "FAIL", "NOT RUN"


@dataclass
class Target:
    """One claim's target and what was measured against it."""

    claim: str
    measure: str
    target: str
    measured: str
    result: str
    value: float | None = None
    limit: float | None = None
    timing: bool = True  # a timing target (never asserted by the smoke test)


def _fmt(value: float | None, unit: str = "", digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.{digits}g}"
    return f"{text} {unit}".strip()


def _spread(s: dict[str, Any] | None, unit: str = "", scale: float = 1.0) -> str:
    if not s or s.get("median") is None:
        return "-"
    med, lo, hi = (s[k] / scale for k in ("median", "min", "max"))
    if s.get("n", 1) <= 1 or lo == hi:
        return _fmt(med, unit)
    return f"{_fmt(med, unit)} [{_fmt(lo)}-{_fmt(hi)}]"


def _check(ok: bool | None) -> str:
    return NOT_RUN if ok is None else (PASS if ok else FAIL)


# -- targets ----------------------------------------------------------------------------------


def _wait_targets(wait: dict[str, Any] | None, long_batches: tuple[float, ...]) -> list[Target]:
    out: list[Target] = []
    waiters = (wait or {}).get("waiters", {})
    for kind in PROVIDER_KINDS:
        entry = waiters.get(kind)
        label = "sync" if kind == SYNC else "deferrable"
        lat = entry["latency_s"] if entry else None
        n = lat["n"] if lat else 0
        # A p99 needs 100 samples; with fewer, the maximum is held to the p99 target.
        tail = ("p99", "p99") if n >= 100 else ("max", "max")
        for (pct, name), limit in ((("p50", "p50"), 0.1), (tail, 0.5)):
            value = lat[pct] if lat else None
            out.append(
                Target(
                    "1",
                    f"{label}: completion latency {name} (n={n})",
                    f"< {limit * 1000:.0f} ms",
                    _fmt(value * 1000 if value is not None else None, "ms"),
                    _check(None if value is None else value < limit),
                    value,
                    limit,
                )
            )
        for duration in long_batches:
            key = f"{duration:g}s"
            requests = (entry or {}).get("long", {}).get(key, {}).get("requests")
            worst = requests["max"] if requests and requests["n"] else None
            out.append(
                Target(
                    "1",
                    f"{label}: requests during the wait, {key} batch (logs included"
                    + (", and execute_complete's reads)" if kind != SYNC else ")"),
                    "<= 12",
                    _spread(requests),
                    _check(None if worst is None else worst <= 12),
                    worst,
                    12,
                    timing=False,
                )
            )
    return out


def _log_targets(logs: dict[str, Any] | None) -> list[Target]:
    if not logs:
        return [Target("2", "log streaming", "-", "-", NOT_RUN, timing=False)]
    follower = logs["follower"]
    handler = logs["follower_with_handler"]
    ratio = follower["ratio_to_curl"]
    growth = follower["rss_growth"]
    worst_growth = growth["max"]
    return [
        Target(
            "2",
            "follower throughput / curl throughput (same run)",
            ">= 0.5",
            f"{_spread(ratio)} ({_spread(follower['mb_per_s'], 'MB/s')} vs "
            f"{_spread(logs['curl_plain']['mb_per_s'], 'MB/s')})",
            _check(ratio["min"] >= 0.5 if ratio["n"] else None),
            ratio["min"],
            0.5,
        ),
        Target(
            "2",
            "follower peak RSS growth",
            "< 64 MB",
            _spread(growth, "MB", MB),
            _check(worst_growth < 64 * MB),
            worst_growth / MB,
            64,
        ),
        Target(
            "2",
            f"bytes received == bytes written ({logs['bytes_written'] / MB:,.0f} MB, CRC-32)",
            "equal",
            "equal" if follower["bytes_equal"] else "DIFFERENT",
            _check(follower["bytes_equal"]),
            timing=False,
        ),
        Target(
            "2",
            "the same, through the follower's default logging path (log.info per line)",
            "equal",
            "equal"
            if handler["bytes_equal"]
            else f"{handler['bytes']['stdout'] / MB:,.0f} MB of {logs['bytes_written'] / MB:,.0f}",
            _check(handler["bytes_equal"]),
            timing=False,
        ),
    ]


def _trigger_targets(triggers: dict[str, Any] | None, count: int) -> list[Target]:
    if not triggers:
        return [Target("3", "trigger swarm", "-", "-", NOT_RUN, timing=False)]
    rss = triggers["peak_rss"]
    p99 = triggers["latency_p99_s"]
    return [
        Target(
            "3",
            f"{count} triggers: peak RSS of the trigger process",
            "< 300 MB",
            _spread(rss, "MB", MB),
            _check(rss["max"] < 300 * MB),
            rss["max"] / MB,
            300,
        ),
        Target(
            "3",
            f"{count} triggers: latency p99 (batch end to event)",
            "< 1 s",
            _spread(p99, "s"),
            _check(p99["max"] < 1.0 if p99["n"] else False),
            p99["max"],
            1.0,
        ),
        Target(
            "3",
            f"{count} triggers: errors",
            "0",
            str(triggers["error_count"]),
            _check(triggers["error_count"] == 0),
            triggers["error_count"],
            0,
            timing=False,
        ),
    ]


def _trigger_cpu_target(triggers: dict[str, Any] | None) -> list[Target]:
    """CPU per waiting batch through the shared watch against per-trigger waits (the goal: ten
    times lower), from the same runs: today's per-trigger waits, and those of the provider
    before the shared watch (:mod:`benchmarks.before_watch`), which the goal was set against."""
    if not triggers or not triggers.get("per_trigger"):
        return []
    shared = triggers["cpu_ms_per_trigger"].get("median")
    if shared is None:
        return []
    shared_runs = [r for r in triggers["runs"] if r.get("mode", "shared") == "shared"]
    logs = "with" if all(r.get("stream_logs", True) for r in shared_runs) else "without"
    handovers = "/".join(sorted({r.get("handover", "burst") for r in shared_runs}))
    baselines = [("per-trigger waits", triggers["per_trigger"])]
    if triggers.get("before_watch"):
        commit = str(triggers.get("before_watch_commit") or "")[:7]
        baselines.append(
            (f"per-trigger waits before the shared watch ({commit})", triggers["before_watch"])
        )
    rows = []
    for name, baseline in baselines:
        alone = baseline["cpu_ms_per_trigger"].get("median")
        if not alone:
            continue
        rows.append(
            Target(
                "3",
                f"CPU per waiting batch, shared vs {name} ({logs} log streams, {handovers} "
                "handover)",
                "<= 1/10",
                f"{_fmt(shared, 'ms')} vs {_fmt(alone, 'ms')} ({_fmt(shared / alone)})",
                _check(shared <= alone / 10),
                shared / alone,
                0.1,
            )
        )
    return rows


def _trigger_waiting_targets(waiting: dict[str, Any] | None) -> list[Target]:
    """Claim 3's waiting-alone runs, handed over as dispatched: how many triggers still read
    their job's state (one that saw its dispatch through the stream reads nothing), and CPU."""
    if not waiting or not waiting.get("runs"):
        return []
    count = max(r["triggers"] for r in waiting["runs"])
    reads = waiting["state_reads_per_trigger"]
    alone = waiting["per_trigger"]["state_reads_per_trigger"]
    return [
        Target(
            "3",
            f"{count} triggers waiting, handed over as dispatched: state reads per batch, "
            "shared watch (per-trigger waits)",
            "< 1",
            f"{_fmt(reads.get('median'))} ({_fmt(alone.get('median'))})",
            _check(reads["max"] < 1 if reads.get("n") else None),
            reads.get("max"),
            1,
        ),
        *_trigger_cpu_target(waiting),
    ]


def _headroom_targets(
    headroom: dict[str, Any] | None, triggers: dict[str, Any] | None
) -> list[Target]:
    if not headroom:
        return [Target("4", "emulator headroom", "-", "-", NOT_RUN, timing=False)]
    blocking = headroom["blocking_queries"]
    out = [
        Target(
            "4",
            "blocking queries held at once (all answered after one write)",
            f"{blocking['requested']}",
            f"{blocking['held_until_change']} (woken in {_fmt(blocking['wake_all_seconds'], 's')})",
            _check(blocking["held_until_change"] == blocking["requested"]),
            blocking["held_until_change"],
            blocking["requested"],
            timing=False,
        )
    ]
    # Today's provider only: the before-watch runs measure the code that was replaced.
    runs = [r for r in (triggers or {}).get("runs", []) if r.get("mode") != "before-watch"]
    if runs:
        # Each trigger holds an allocation query and two log streams at once.
        needed = max(r["triggers"] for r in runs) * 3
        rate = max((r["request_rate_per_s"] or 0) for r in runs)
        rps = headroom["status_leader"]["requests_per_s"]
        out.append(
            Target(
                "4",
                "held queries available vs. what claim 3 holds (triggers x 3)",
                f">= {needed}",
                str(blocking["held_until_change"]),
                _check(blocking["held_until_change"] >= needed),
                blocking["held_until_change"],
                needed,
                timing=False,
            )
        )
        out.append(
            Target(
                "4",
                "cheap reads/s vs. claim 3's mean request rate",
                f">= 10 x {_fmt(rate, '/s')}",
                _fmt(rps, "/s"),
                _check(rps >= 10 * rate),
                rps,
                10 * rate,
            )
        )
    return out


#: A quiet executor sends one blocking query per ``watch_wait_seconds`` (60 s): one a minute,
#: two when the window straddles an answer.
EXECUTOR_QUIET_PER_MINUTE = 2
#: Per dispatched try: the list that picks the run's token, the dispatch, the read of the
#: pending child's allocations and evaluations; the shared watch answers and the one read of
#: the runner job spread over every try.
EXECUTOR_DISPATCH_PER_TASK = 5
#: Per ended try: its allocations and evaluations, plus a share of the watch's answers.
EXECUTOR_END_PER_TASK = 3


def _executor_targets(executor: dict[str, Any] | None) -> list[Target]:
    if not executor:
        return [Target("5", "NomadExecutor requests", "-", "-", NOT_RUN, timing=False)]
    out = []
    for size in executor["sizes"]:
        n, phases = size["tasks"], size["phases"]
        steady = phases["steady"]
        out.append(
            Target(
                "5",
                f"NomadExecutor, {n} running tasks: Nomad requests per minute "
                f"({steady['heartbeats']} heartbeats in {steady['seconds']:.0f} s)",
                f"<= {EXECUTOR_QUIET_PER_MINUTE}",
                f"{steady['requests']} ({_fmt(steady['requests_per_minute'], '/min')})",
                _check(steady["requests"] <= EXECUTOR_QUIET_PER_MINUTE),
                steady["requests"],
                EXECUTOR_QUIET_PER_MINUTE,
                timing=False,
            )
        )
        for name, limit in (
            ("dispatch", EXECUTOR_DISPATCH_PER_TASK),
            ("ends", EXECUTOR_END_PER_TASK),
        ):
            phase = phases[name]
            out.append(
                Target(
                    "5",
                    f"NomadExecutor, {n} tasks: requests per task, {name} "
                    f"({_fmt(phase['seconds'], 's')})",
                    f"<= {limit}",
                    _fmt(phase["requests_per_task"]),
                    _check(phase["requests_per_task"] <= limit),
                    phase["requests_per_task"],
                    limit,
                    timing=False,
                )
            )
    return out


def targets(results: dict[str, Any]) -> list[Target]:
    claims = results["claims"]
    profile = results["meta"]["profile"]
    long_batches = tuple(float(b) for b in profile["long_batches"])
    rows = [
        *_wait_targets(claims.get("wait"), long_batches),
        *_log_targets(claims.get("logs")),
        *_trigger_targets(claims.get("triggers"), profile["triggers"]),
        *_trigger_cpu_target(claims.get("triggers")),
        *_trigger_waiting_targets((claims.get("triggers") or {}).get("waiting")),
        *_headroom_targets(claims.get("headroom"), claims.get("triggers")),
        *_executor_targets(claims.get("executor")),
    ]
    _annotate_load(rows, claims, results["meta"]["host"]["cpus"])
    return rows


def _annotate_load(rows: list[Target], claims: dict[str, Any], cpus: int) -> None:
    """Put the machine's load beside the figures that move with it (throughput ratio, trigger
    latency p99): on a shared machine a miss there may be the neighbours', and a pass says
    under what load it held."""
    from benchmarks.load import load_note

    logs = claims.get("logs") or {}
    runs = (claims.get("triggers") or {}).get("runs") or []
    trigger_loads = [
        f"{r['loadavg_before'][0]:.1f} -> {r['loadavg_after'][0]:.1f}"
        for r in runs
        if r.get("loadavg_before") and r.get("loadavg_after")
    ]
    for row in rows:
        if row.claim == "2" and row.measure.startswith("follower throughput"):
            row.measured += f"; {load_note(logs.get('load_before'), logs.get('load_after'))}"
        elif row.claim == "3" and "latency p99" in row.measure and trigger_loads:
            row.measured += f"; load {', '.join(trigger_loads)} on {cpus} CPUs (per run)"


# -- markdown ---------------------------------------------------------------------------------


def targets_table(rows: list[Target]) -> str:
    lines = [
        "| Claim | Measure | Target | Measured: median [min-max] | Result |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {t.claim} | {t.measure} | {t.target} | {t.measured} | **{t.result}** |" for t in rows
    ]
    return "\n".join(lines)


def _long_batch_ends(wait: dict[str, Any], t0_wall: float, schedule: list[dict[str, Any]]) -> str:
    """When the long batches ended, and which other phase was running then."""
    notes = []
    for record in wait["records"]:
        if record["lane"].endswith("-short") or record["task_finished"] is None:
            continue
        at = record["task_finished"] - t0_wall
        during = [
            p["phase"]
            for p in schedule
            if p["start"] <= at <= p["end"] and not p["phase"].startswith("1:")
        ]
        suffix = f" (during {', '.join(during)})" if during else ""
        notes.append(f"{record['lane']} at {at:.0f} s{suffix}")
    return "; ".join(notes)


def _first_waits(wait: dict[str, Any]) -> str:
    parts = []
    for kind in PROVIDER_KINDS:
        first = wait["waiters"].get(kind, {}).get("first_wait_latency_s")
        if first is not None:
            parts.append(f"{LABELS[kind]}: {_fmt(first * 1000, 'ms')}")
    return "its latency: " + "; ".join(parts) if parts else "none measured"


def _wait_section(wait: dict[str, Any], long_batches: tuple[float, ...]) -> list[str]:
    keys = [f"{b:g}s" for b in long_batches]
    head = (
        "| Waiter | poll | latency p50 | latency p99 or max | n | "
        + " | ".join(f"requests, {k} batch" for k in keys)
        + " | "
        + " | ".join(f"log lines / batch lines, {k}" for k in keys)
        + " | nomad processes per poll | CPU s of those processes"
    )
    lines = [
        "## 1. Waiting for a batch to end",
        "",
        "Latency: from the batch's end (the task's `FinishedAt` in the emulator) to the waiter "
        "returning, over short batches waited one after another (the provider) or all at once "
        "(the peers). Each provider lane first waits once untimed: the first wait of a fresh "
        "process pays one-time costs while every other waiter process starts too "
        f"({_first_waits(wait)}). Requests: every HTTP request the waiter sent while waiting, "
        "counted by the emulator (logs included; for the deferrable path, the trigger's and then "
        "those of `execute_complete`, run with the trigger's event as the resumed task runs "
        "it), median [min-max] over repeats. Every batch prints a line every "
        "50 ms for its whole run; *log lines / batch lines* counts the log lines a waiter "
        "emitted carrying them (1: each line once; 0: the output never reaches the task log; "
        "above 1: lines logged again). airflow-nomad's *nomad processes* are the stand-in CLI "
        "(`benchmarks/waiters/nomad_cli.py`); their CPU is summed over all of that waiter's "
        f"waits. {_wait_load(wait)}",
        "",
        head + " |",
        "|---|---|---|---|---|" + "---|" * (2 * len(keys) + 2),
    ]
    for kind in KINDS:
        entry = wait["waiters"].get(kind)
        if not entry:
            continue
        lat = entry["latency_s"]
        poll = entry["poll_interval_s"]
        cells = [
            LABELS[kind],
            f"{poll:g} s" if poll else "blocking queries",
            _fmt(lat["p50"] * 1000 if lat["p50"] is not None else None, "ms"),
            _tail(lat),
            str(lat["n"]),
            *(_spread(entry["long"].get(k, {}).get("requests")) for k in keys),
            *_wait_log_cells(entry, keys),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "![latency](wait_latency.png)", "", "Requests by route, first repeat:", ""]
    for kind in KINDS:
        entry = wait["waiters"].get(kind)
        for key in keys:
            routes = (entry or {}).get("long", {}).get(key, {}).get("requests_by_route")
            if routes:
                text = ", ".join(f"`{r}` {n}" for r, n in sorted(routes.items()))
                lines.append(f"- {LABELS[kind]}, {key}: {text}")
    return lines


def _tail(lat: dict[str, Any] | None, scale: float = 1000.0, unit: str = "ms") -> str:
    """p99 when there are enough samples for it (100), else the maximum, saying so."""
    if not lat or not lat.get("n"):
        return "-"
    if lat["n"] >= 100:
        return f"p99 {_fmt(lat['p99'] * scale, unit)}"
    return f"max {_fmt(lat['max'] * scale, unit)} (n={lat['n']} < 100: no p99)"


def _task_end_section(task_end: dict[str, Any], wait: dict[str, Any] | None) -> list[str]:
    from benchmarks.load import load_note

    lines = [
        "## 1b. Batch end to task end, through a real Airflow",
        "",
        "What a user waits for: from the batch's end (`FinishedAt` in the emulator) to the task "
        "instance's `end_date` in Airflow, with `api-server` (the REST API and the execution "
        "API, two processes), `scheduler` (LocalExecutor), "
        "`dag-processor` and `triggerer` running as separate processes on SQLite, one DAG run "
        "of each path in flight at a time. Beside it, claim 1's figure for the same path from "
        "this run, measured to the waiter alone (the operator's `_follow` returning; the "
        "trigger's event). Requests: everything the task sent to Nomad, from reading the "
        "parent to `execute_complete`'s reads (airflow-nomad's: the dispatch, then each poke's "
        "`nomad job status` process; its real task dispatches in an upstream task). "
        f"Deployment ready in {_fmt(task_end['deployment_ready_s'], 's')}; "
        f"{load_note(task_end.get('load_before'), task_end.get('load_after'))}.",
        "",
        "| Path | measured to | p50 | p99 or max | n | requests per task |",
        "|---|---|---|---|---|---|",
    ]
    waiters = (wait or {}).get("waiters", {})
    to_waiter = {
        "sync": "`_follow` returns (claim 1)",
        "deferrable": "trigger event (claim 1)",
        AIRFLOW_NOMAD_021: "its poke loop returns (claim 1)",
    }
    for path, entry in task_end["paths"].items():
        alone = waiters.get(path)
        if alone:
            lat = alone["latency_s"]
            key = next(iter(alone["long"]), "")
            lines.append(
                f"| {alone['label']} | {to_waiter[path]} | "
                f"{_fmt((lat['p50'] or 0) * 1000, 'ms')} | {_tail(lat)} | {lat['n']} | "
                f"{_spread(alone['long'].get(key, {}).get('requests'))} (the wait alone, "
                f"{key} batch) |"
            )
        lat = entry["latency_s"]
        lines.append(
            f"| {entry['label']} | task instance `end_date` | "
            f"{_fmt((lat['p50'] or 0) * 1000, 'ms') if lat['n'] else '-'} | {_tail(lat)} | "
            f"{lat['n']} of {entry['planned']} | {_spread(entry['requests_per_task'])} |"
        )
    first = {
        path: entry["first_run"]
        for path, entry in task_end["paths"].items()
        if entry.get("first_run") and entry["first_run"].get("latency_s") is not None
    }
    if first:
        runs = "; ".join(
            f"{path} {_fmt(run['latency_s'] * 1000, 'ms')}, {run['requests']} requests"
            for path, run in first.items()
        )
        lines += [
            "",
            f"Not in the table: the first run of each path after the deployment started ({runs}). "
            "It also pays for each component's first request; in a fresh triggerer, the first "
            "trigger's first XCom read (the log checkpoint) waits while Airflow builds the "
            "triggerer's in-process execution API (about 5 s of imports and set-up on this "
            "machine when quiet).",
        ]
    lines += ["", "Requests by route, first measured run of each path:", ""]
    for entry in task_end["paths"].values():
        routes = entry.get("requests_by_route") or {}
        text = ", ".join(f"`{r}` {n}" for r, n in sorted(routes.items())) or "-"
        lines.append(f"- {entry['label']}: {text}")
    if task_end.get("errors"):
        lines += ["", *(f"- error: {e}" for e in task_end["errors"])]
    if task_end.get("airflow_failed"):
        lines += [
            "",
            f"Airflow's scheduler failed {len(task_end['airflow_failed'])} deferrable run(s) after "
            "the trigger had fired: the executor's success of the deferring process reached it "
            "after the task was queued again (the family of apache/airflow#66374, #71580 and "
            "#72716). Not counted above:",
            *(f"- {e}" for e in task_end["airflow_failed"]),
        ]
    return lines


def _wait_load(wait: dict[str, Any]) -> str:
    from benchmarks.load import load_note

    note = load_note(wait.get("load_before"), wait.get("load_after"))
    return f"Claim 1 ran with the machine's {note} (start to end of its lanes)."


def _wait_log_cells(entry: dict[str, Any], keys: list[str]) -> list[str]:
    """Log duplication per long batch, and the CLI processes a poll starts (airflow-nomad)."""
    cells = [_spread(entry["long"].get(k, {}).get("log_lines_per_batch_line")) for k in keys]
    per_poll = [entry["long"].get(k, {}).get("cli_processes_per_poll") for k in keys]
    cells.append(next((_spread(p) for p in per_poll if p and p["n"]), "0"))
    cpu = entry.get("children_cpu_s")
    cells.append(_fmt(cpu) if cpu else "-")
    return cells


def _logs_section(logs: dict[str, Any]) -> list[str]:
    follower, handler = logs["follower"], logs["follower_with_handler"]
    lines = [
        "## 2. Streaming a big log",
        "",
        f"{logs['bytes_written'] / MB:,.0f} MB of {logs['line_bytes']}-byte lines written by a "
        f"`raw_exec` batch into rotated files (LogConfig {logs['log_config']}); "
        f"{logs['bytes_retained'] / MB:,.0f} MB retained. Read after the batch ended, from the "
        "plain endpoint: the follower reads the first 8 MiB on its event loop, then the rest "
        "in its reader thread. MB = 10^6 bytes.",
        "",
        "| Reader | MB/s median [min-max] | bytes equal | peak RSS growth |",
        "|---|---|---|---|",
        f"| curl, plain endpoint (ceiling) | {_spread(logs['curl_plain']['mb_per_s'])} | "
        f"{'yes (size)' if logs['curl_bytes_equal'] else 'NO'} | - |",
        f"| curl, framed endpoint (what the follower reads while a task runs) | "
        f"{_fmt(logs['curl_framed']['mb_per_s'])} | - | - |",
        f"| JobFollower, counting sink | {_spread(follower['mb_per_s'])} | "
        f"{'yes (CRC-32)' if follower['bytes_equal'] else 'NO'} | "
        f"{_spread(follower['rss_growth'], 'MB', MB)} |",
        f"| JobFollower, sink + logging handler | {_fmt(handler['mb_per_s'])} | "
        f"{'yes (CRC-32)' if handler['bytes_equal'] else 'NO'} | "
        f"{_fmt(handler['rss_growth'] / MB, 'MB')} |",
        "",
        f"The logging handler (one `log.info` per line into a `FileHandler`) adds "
        f"{_fmt(handler['handler_cost_s_per_gb'], 's')} per GB on top of the line assembler.",
        "",
        "![follower RSS](log_rss.png)",
    ]
    return lines


_HANDOVER_TEXT = {
    "burst": "All triggers are handed to the event loop at once, as after a triggerer restart.",
    "streamed": "The jobs are dispatched at a steady rate and each second's jobs handed to the "
    "event loop a second later, as a triggerer picks up tasks that just deferred.",
}


def _before_watch_text(triggers: dict[str, Any]) -> str:
    """Where claim 3's ``before-watch`` runs came from, or why there are none."""
    commit = str(triggers.get("before_watch_commit") or "")[:7]
    skipped = triggers.get("before_watch_skipped")
    if skipped:
        return f"not run: {skipped}"
    if not commit:
        return "not run"
    return (
        f"commit `{commit}`, each trigger with its own HTTP client and blocking queries: the "
        "waits the ten-times-lower target was set against, run in the same repeats with "
        "today's harness (`benchmarks/before_watch.py`)"
    )


def _triggers_section(triggers: dict[str, Any]) -> list[str]:
    runs = [*triggers["runs"], *(triggers.get("waiting") or {}).get("runs", [])]
    handovers = sorted({r.get("handover", "burst") for r in runs})
    lines = [
        "## 3. Triggers in one event loop",
        "",
        " ".join(_HANDOVER_TEXT[h] for h in handovers) + " "
        "*Mode*: `shared`, the triggers wait through one Nomad event stream; `per-trigger`, "
        "each with its own blocking queries; `before-watch`, the triggers of the provider as "
        f"it was before the shared watch ({_before_watch_text(triggers)}). *Wait requests*: "
        "requests to Nomad other than log reads (state reads and event streams). *Load*: the "
        "machine's 1-minute load average before and after the run. *First end*: when the first "
        "batch ended (seconds after the hand-over). *SSL contexts*: how many the hooks built, "
        "and the CPU seconds that took.",
        "",
        "| Run | mode | hand-over, logs | triggers | load | peak RSS | CPU s | CPU ms/trigger | "
        "SSL contexts (CPU s) | first end | latency p50 | latency p99 | max loop lag | "
        "requests/trigger | wait requests/trigger | state reads/trigger | event streams | "
        "errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, run in enumerate(runs, 1):
        lat = run["latency_s"]
        load = "-"
        if run.get("loadavg_before"):
            load = f"{run['loadavg_before'][0]:.1f} / {run['loadavg_after'][0]:.1f}"
        wait = run.get("wait_requests")
        reads = run.get("state_reads")
        lines.append(
            f"| {i} | {run.get('mode', 'per-trigger')} | {run.get('handover', 'burst')}, "
            f"{'followed' if run.get('stream_logs', True) else 'none'} | {run['triggers']} | "
            f"{load} | "
            f"{_fmt(run['peak_rss'] / MB, 'MB')} | {_fmt(run['cpu_seconds'])} | "
            f"{_fmt(1000 * run['cpu_seconds'] / run['triggers'])} | "
            f"{run['ssl_contexts_built']} ({_fmt(run['ssl_context_cpu_s'])}) | "
            f"{_fmt(run.get('first_batch_end_s'), 's')} | {_fmt(lat['p50'], 's')} | "
            f"{_fmt(lat['p99'], 's')} (n={lat['n']}) | {_fmt(run['loop_lag_s']['max'], 's')} | "
            f"{_fmt(run['requests'] / run['triggers'])} | "
            f"{_fmt(wait / run['triggers']) if wait is not None else '-'} | "
            f"{_fmt(reads / run['triggers']) if reads is not None else '-'} | "
            f"{run.get('event_streams', 0)} | {run['error_count']} |"
        )
    lines += ["", "![trigger swarm](triggers.png)"]
    return lines


def _headroom_section(headroom: dict[str, Any]) -> list[str]:
    b = headroom["blocking_queries"]
    return [
        "## 4. Emulator headroom",
        "",
        "| Measure | Value |",
        "|---|---|",
        f"| `GET /v1/status/leader`, {headroom['connections']} connections "
        f"({headroom['status_leader']['tool']}) | "
        f"{_fmt(headroom['status_leader']['requests_per_s'], 'req/s')} |",
        f"| `GET /v1/job/:id` | {_fmt(headroom['job_read']['requests_per_s'], 'req/s')} |",
        f"| blocking queries held, answered after one write | {b['held_until_change']} / "
        f"{b['requested']} |",
        f"| read latency p50 while they are held | "
        f"{_fmt((b['probe_latency_s_while_held']['p50'] or 0) * 1000, 'ms')} |",
        f"| time to answer all of them after the write | {_fmt(b['wake_all_seconds'], 's')} |",
    ]


def _executor_section(executor: dict[str, Any]) -> list[str]:
    lines = [
        "## 5. NomadExecutor: requests to Nomad",
        "",
        "One executor in a worker process, heartbeat once a second as a scheduler's loop does; "
        "`mock_driver` children of a runner job shaped like the documented one, one fresh "
        "emulator per size. Phases: **dispatch** (the tries queued until the watch saw every "
        "child running), **steady** (a quiet window while every child runs: the figure that "
        "must not grow with the number of tasks), **ends** (every child stopped from outside "
        "at once, until the executor reported every end; the stop requests are not counted). "
        "Load averages (1, 5, 15 min) are the machine's, before and after the size."
        + (f" Measured {executor['started']}." if executor.get("started") else ""),
        "",
        "| tasks | phase | seconds | heartbeats | requests | per minute | per task | by route "
        "| load before / after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in executor["sizes"]:
        for name in ("dispatch", "steady", "ends"):
            p = size["phases"][name]
            routes = ", ".join(f"`{r}` {c}" for r, c in p["by_route"].items()) or "-"
            load = f"{size['load_before']} / {size['load_after']}" if name == "dispatch" else ""
            lines.append(
                f"| {size['tasks']} | {name} | {p['seconds']:.1f} | {p['heartbeats']} | "
                f"{p['requests']} | {_fmt(p['requests_per_minute'])} | "
                f"{_fmt(p['requests_per_task'])} | {routes} | {load} |"
            )
    return lines


def markdown(results: dict[str, Any], rows: list[Target]) -> str:
    meta = results["meta"]
    long_batches = tuple(float(b) for b in meta["profile"]["long_batches"])
    lines = [
        "# airflow-provider-nomad benchmarks",
        "",
        f"Profile `{meta['profile']['name']}`, {meta['started']}, {meta['host']['cpus']} CPUs, "
        f"Python {meta['host']['python']}, {meta['duration_s']:.0f} s in all. Every figure is "
        "measured in the same run as its comparison.",
        "",
        "## Targets",
        "",
        targets_table(rows),
        "",
    ]
    claims = results["claims"]
    if claims.get("wait"):
        lines += [*_wait_section(claims["wait"], long_batches), ""]
        ends = _long_batch_ends(claims["wait"], meta["t0_wall"], meta["schedule"])
        lines += [f"Long batches ended (seconds into the run): {ends}.", ""]
    if claims.get("task_end"):
        lines += [*_task_end_section(claims["task_end"], claims.get("wait")), ""]
    if claims.get("logs"):
        lines += [*_logs_section(claims["logs"]), ""]
    if claims.get("triggers"):
        lines += [*_triggers_section(claims["triggers"]), ""]
    if claims.get("headroom"):
        lines += [*_headroom_section(claims["headroom"]), ""]
    if claims.get("executor"):
        lines += [*_executor_section(claims["executor"]), ""]
    if results.get("errors"):
        lines += ["## Harness errors", "", *(f"- {e}" for e in results["errors"]), ""]
    lines += ["## Schedule", "", "| Phase | start s | end s |", "|---|---|---|"]
    lines += [f"| {p['phase']} | {p['start']:.0f} | {p['end']:.0f} |" for p in meta["schedule"]]
    return "\n".join(lines) + "\n"


# -- plots ------------------------------------------------------------------------------------


def plots(results: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    claims = results["claims"]
    wait = claims.get("wait")
    if wait:
        fig, ax = plt.subplots(figsize=(11, 5))
        data, names = [], []
        for kind in KINDS:
            samples = [s for s in wait["waiters"][kind]["latency_samples_s"] if s is not None]
            if samples:
                data.append([max(s, 1e-4) for s in samples])
                names.append(textwrap.fill(LABELS[kind], 20))
        if data:
            ax.boxplot(data, whis=(0, 100))
            ax.set_xticks(range(1, len(names) + 1), names, fontsize=8)
            for i, samples in enumerate(data, 1):
                ax.scatter([i] * len(samples), samples, s=8, alpha=0.5)
            ax.set_yscale("log")
            ax.axhline(0.1, color="green", linestyle=":", label="p50 target 100 ms")
            ax.axhline(0.5, color="orange", linestyle=":", label="p99 target 500 ms")
            ax.set_ylabel("batch end -> waiter returns (s, log scale)")
            ax.legend(fontsize=8)
            ax.set_title("Completion latency per waiter")
            fig.tight_layout()
            fig.savefig(out / "wait_latency.png", dpi=110)
            written.append("wait_latency.png")
        plt.close(fig)
    logs = claims.get("logs")
    if logs:
        fig, ax = plt.subplots(figsize=(8, 4))
        runs = [("sink", r) for r in logs["follower"]["runs"]]
        runs.append(("sink + handler", logs["follower_with_handler"]))
        for i, (label, run) in enumerate(runs):
            timeline = run.get("rss_timeline") or []
            if timeline:
                ax.plot(
                    [t for t, _ in timeline],
                    [(rss - run["rss_before"]) / MB for _, rss in timeline],
                    label=f"{label} #{i + 1}" if label == "sink" else label,
                )
        ax.axhline(64, color="red", linestyle=":", label="target 64 MB")
        ax.set_xlabel("seconds since the follower started")
        ax.set_ylabel("RSS growth (MB)")
        ax.set_title("JobFollower RSS while streaming the log")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "log_rss.png", dpi=110)
        written.append("log_rss.png")
        plt.close(fig)
    triggers = claims.get("triggers")
    if triggers and triggers.get("runs"):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        for i, run in enumerate(triggers["runs"], 1):
            timeline = run["rss_timeline"]
            ax1.plot([t for t, _ in timeline], [r / MB for _, r in timeline], label=f"run {i}")
            samples = sorted(run["latency_samples_s"])
            if samples:
                ax2.plot(
                    samples, [(k + 1) / len(samples) for k in range(len(samples))], label=f"run {i}"
                )
        ax1.axhline(300, color="red", linestyle=":", label="target 300 MB")
        ax1.set_xlabel("seconds since the batches were dispatched")
        ax1.set_ylabel("RSS (MB)")
        ax1.set_title("Trigger process RSS")
        ax1.legend(fontsize=8)
        ax2.axvline(1.0, color="red", linestyle=":", label="p99 target 1 s")
        ax2.set_xscale("log")
        ax2.set_xlabel("batch end -> trigger event (s, log scale)")
        ax2.set_ylabel("fraction of triggers")
        ax2.set_title("Trigger latency (CDF)")
        ax2.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "triggers.png", dpi=110)
        written.append("triggers.png")
        plt.close(fig)
    return written


# -- writing ----------------------------------------------------------------------------------


def write(results: dict[str, Any], out: Path) -> tuple[list[Target], str]:
    """Write results.json, results.md and the plots into ``out``; return targets and markdown."""
    out.mkdir(parents=True, exist_ok=True)
    rows = targets(results)
    results["targets"] = [asdict(t) for t in rows]
    results["plots"] = plots(results, out)
    text = markdown(results, rows)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "results.md").write_text(text)
    return rows, text
