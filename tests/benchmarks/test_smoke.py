"""Smoke run of the benchmarks (``python -m benchmarks --quick``) inside the test suite.

It checks that the harness works end to end and that what must hold regardless of timing
holds: bytes streamed equal bytes written, no trigger errors, a short wait costs at most 12
requests, every held blocking query answers. Timing targets are for ``make bench`` only and
are never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import before_watch
from benchmarks.claims.wait import KINDS, PROVIDER_KINDS
from benchmarks.profile import QUICK
from benchmarks.waiters.kinds import (
    AIRFLOW_NOMAD_021,
    AIRFLOW_NOMAD_021_LOGS,
    NOMAD_007,
    PREFECT_NOMAD_020,
)

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench-results")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        # Every claim at once, one of them starting a whole Airflow deployment.
        timeout=420,
    )
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return out, json.loads((out / "results.json").read_text()), proc.stdout


def test_run_is_complete_and_error_free(quick_run):
    out, results, stdout = quick_run
    assert results["errors"] == []
    assert results["meta"]["profile"]["name"] == "quick"
    assert set(results["claims"]) == {
        "wait",
        "task_end",
        "logs",
        "triggers",
        "headroom",
        "executor",
    }
    # The table is printed at the end and written to results.md, every claim evaluated.
    assert "| Claim | Measure | Target |" in stdout
    markdown = (out / "results.md").read_text()
    assert "NOT RUN" not in markdown
    rows = results["targets"]
    assert {r["claim"] for r in rows} == {"1", "2", "3", "4", "5"}
    assert all(r["result"] in ("PASS", "FAIL") for r in rows)


def test_every_waiter_waited_for_every_batch(quick_run):
    _, results, _ = quick_run
    waiters = results["claims"]["wait"]["waiters"]
    assert set(waiters) == set(KINDS)
    records = results["claims"]["wait"]["records"]
    for kind in KINDS:
        mine = [r for r in records if r["kind"] == kind]
        planned = QUICK.latency_runs if kind in PROVIDER_KINDS else QUICK.baseline_latency_runs
        short = waiters[kind]["short_batches"]
        assert short["planned"] == planned
        # A sequential lane stops starting batches once its time budget is spent.
        assert 1 <= short["waited"] <= planned
        warmups = 1 if kind in PROVIDER_KINDS else 0
        assert short["warmups"] == warmups
        assert len(mine) == short["waited"] + warmups + sum(QUICK.long_repeats.values())
        for record in mine:
            assert record["result"] == "succeeded", record
            assert record["alloc_status"] == "complete"
            # Causality, not timing: no waiter can return before the batch ended.
            assert record["latency_s"] >= 0, record


def test_a_short_wait_costs_at_most_12_requests(quick_run):
    _, results, _ = quick_run
    for kind in PROVIDER_KINDS:
        entry = results["claims"]["wait"]["waiters"][kind]
        for duration in QUICK.long_batches:
            requests = entry["long"][f"{duration:g}s"]["requests"]
            assert requests["n"] == QUICK.long_repeats[duration]
            assert 0 < requests["max"] <= 12, (kind, requests)
        assert 0 < entry["short_batch_requests"]["max"] <= 12
    # The deferrable count covers the resumed task too: execute_complete re-reads the job's
    # allocations and evaluations (the trigger reads no evaluation list).
    deferrable = results["claims"]["wait"]["waiters"]["deferrable"]
    for duration in QUICK.long_batches:
        routes = deferrable["long"][f"{duration:g}s"]["requests_by_route"]
        assert routes.get("GET /v1/job/:job_id/evaluations") == 1, routes


def test_every_dag_run_ended_its_task_through_the_deployment(quick_run):
    _, results, _ = quick_run
    paths = results["claims"]["task_end"]["paths"]
    # The provider's two paths, and airflow-nomad's sensor as a real task beside them.
    assert set(paths) == {"sync", "deferrable", AIRFLOW_NOMAD_021}
    for path, entry in paths.items():
        assert entry["planned"] == QUICK.task_end_runs
        assert entry["latency_s"]["n"] == len(entry["records"]) >= 1, path
        # The first run is kept apart, and measured the same way.
        assert entry["first_run"]["latency_s"] > 0, path
        for record in [entry["first_run"], *entry["records"]]:
            # Causality: Airflow cannot record the task's end before the batch ended.
            assert record["latency_s"] > 0, record
            # One dispatch per task, and the task read what it waited for.
            assert record["requests_by_route"]["POST /v1/job/:job_id/dispatch"] == 1, record
            assert record["requests_by_route"]["GET /v1/job/:job_id/allocations"] >= 1, record
    # airflow-nomad's poke loop ran in its task: the last poke pushed its result to Airflow.
    for record in paths[AIRFLOW_NOMAD_021]["records"]:
        assert record["pushed"] == ["PASS", "STOP"], record
    # The deferrable task resumed in a worker: execute_complete re-read the job's evaluations,
    # which neither the sync path nor the trigger reads.
    for record in paths["deferrable"]["records"]:
        assert record["requests_by_route"].get("GET /v1/job/:job_id/evaluations", 0) >= 1
    # The triggerer's event stream outlives each trigger ([nomad_triggerer] watch_linger): the
    # next run's trigger, seconds later, finds it open. (A gap past the linger on a loaded
    # machine opens one more, never one per run.)
    deferrable = [paths["deferrable"]["first_run"], *paths["deferrable"]["records"]]
    opened = sum(r["requests_by_route"].get("GET /v1/event/stream", 0) for r in deferrable)
    assert 1 <= opened < len(deferrable), [r["requests_by_route"] for r in deferrable]


def test_peers_count_what_the_emulator_counts(quick_run):
    _, results, _ = quick_run
    peers = [
        r
        for r in results["claims"]["wait"]["records"]
        if r["kind"] not in PROVIDER_KINDS and "requests" in r
    ]
    assert peers
    for record in peers:
        assert record["client_requests"] == record["requests"], record


def test_log_lines_emitted_per_batch_line(quick_run):
    """The batches print a line every 50 ms; each waiter's log lines are counted against them.

    Not timing: how many times a waiter logs a line follows from how it reads the log.
    """
    _, results, _ = quick_run
    records = results["claims"]["wait"]["records"]
    for record in records:
        assert record["batch_lines"] >= 1, record
        ratio = record["log_lines"] / record["batch_lines"]
        kind = record["kind"]
        if kind in PROVIDER_KINDS or kind == PREFECT_NOMAD_020:
            # Read from an offset: every line once (prefect-nomad prints them, to stdout).
            assert ratio == 1, record
        elif kind == AIRFLOW_NOMAD_021:
            assert ratio == 0, record  # forward_logs is off by default
        elif kind == AIRFLOW_NOMAD_021_LOGS:
            assert ratio >= 1, record  # a line cut by a chunk's end is logged as two
        else:
            assert ratio >= 1, record
    # apache-airflow-providers-nomad 0.0.7 logs the whole file again every round.
    long_007 = [r for r in records if r["kind"] == NOMAD_007 and not r["lane"].endswith("short")]
    assert long_007 and all(r["log_lines"] > r["batch_lines"] for r in long_007)


def test_airflow_nomad_starts_nomad_processes(quick_run):
    _, results, _ = quick_run
    for record in results["claims"]["wait"]["records"]:
        if record["kind"] == AIRFLOW_NOMAD_021:
            # One `nomad job status -json` per poke.
            assert record["cli_processes"] == record["polls"] >= 1, record
        elif record["kind"] == AIRFLOW_NOMAD_021_LOGS:
            # Plus, once the allocation exists, a listing per stream and a read of each file
            # with new bytes.
            assert record["cli_processes"] >= record["polls"] + 3, record


def test_log_bytes_received_equal_bytes_written(quick_run):
    _, results, _ = quick_run
    logs = results["claims"]["logs"]
    assert logs["bytes_written"] == QUICK.log_bytes
    assert logs["bytes_retained"] == QUICK.log_bytes
    assert logs["curl_bytes_equal"]
    assert logs["follower"]["bytes_equal"]
    assert logs["follower_with_handler"]["bytes_equal"]
    assert len(logs["follower"]["runs"]) == QUICK.log_repeats
    for run in logs["follower"]["runs"]:
        assert run["outcome"] == "succeeded"
        assert run["bytes"]["stdout"] == QUICK.log_bytes
        assert run["stdout_crc32"] == logs["expected_crc32"]
        assert run["peak_rss"] > 0


def test_triggers_all_fired_without_errors(quick_run):
    _, results, _ = quick_run
    triggers = results["claims"]["triggers"]
    # The main runs (a burst, logs followed) and the waiting-alone runs handed over as
    # dispatched, while more jobs are dispatched.
    waiting = triggers["waiting"]
    assert triggers["error_count"] == waiting["error_count"] == 0
    assert {(r["handover"], r["stream_logs"]) for r in triggers["runs"]} == {("burst", True)}
    assert {(r["handover"], r["stream_logs"]) for r in waiting["runs"]} == {("streamed", False)}
    for run in [*triggers["runs"], *waiting["runs"]]:
        assert run["events"] == QUICK.triggers
        assert run["latency_s"]["n"] == QUICK.triggers
        assert run["peak_rss"] > run["rss_before"] > 0
        # The harness's registration and dispatches are not counted as the swarm's requests.
        assert not {"PUT /v1/jobs", "PUT /v1/job/:job_id/dispatch"} & set(run["requests_by_route"])
    # Beside the shared watch and today's per-trigger waits, in both variants: the provider as
    # it was before the shared watch, from this checkout's history, imported from its own copy
    # (without that history, left out with the reason).
    if not before_watch.available():
        assert "not in this checkout's history" in triggers["before_watch_skipped"]
        assert {r["mode"] for r in [*triggers["runs"], *waiting["runs"]]} == {
            "shared",
            "per-trigger",
        }
        return
    assert triggers["before_watch_skipped"] is None
    # Every repeat runs the three modes, each repeat (over both variants) starting with the next.
    modes = ["shared", "per-trigger", "before-watch"]
    repeats_run = 0
    for variant, repeats in (
        (triggers, QUICK.trigger_repeats),
        (waiting, QUICK.trigger_waiting_repeats),
    ):
        expected_order = []
        for _ in range(repeats):
            first = repeats_run % 3
            expected_order += modes[first:] + modes[:first]
            repeats_run += 1
        assert [r["mode"] for r in variant["runs"]] == expected_order
        for run in variant["runs"]:
            expected = before_watch.COMMIT[:7] if run["mode"] == "before-watch" else "today"
            assert run["provider"] == expected, run["provider"]
        assert variant["before_watch"]["cpu_ms_per_trigger"]["n"] == repeats


def test_emulator_held_every_blocking_query(quick_run):
    _, results, _ = quick_run
    blocking = results["claims"]["headroom"]["blocking_queries"]
    assert blocking["held_until_change"] == blocking["requested"] == QUICK.blocking_queries
    assert results["claims"]["headroom"]["status_leader"]["requests_per_s"] > 0


def test_the_executor_ran_every_size_and_saw_every_end(quick_run):
    _, results, _ = quick_run
    sizes = results["claims"]["executor"]["sizes"]
    assert [s["tasks"] for s in sizes] == list(QUICK.executor_tasks)
    for size in sizes:
        phases = size["phases"]
        n = size["tasks"]
        # One dispatch per task, nothing dispatched twice, and no request at all stopping
        # children: that was the harness's, left out of the count.
        assert phases["dispatch"]["by_route"]["POST /v1/job/:job_id/dispatch"] == n
        assert not any(r.startswith("DELETE") for p in phases.values() for r in p["by_route"])
        # While every child runs, the requests do not grow with the tasks.
        assert phases["steady"]["requests"] <= 2, phases["steady"]
        assert phases["ends"]["requests"] >= 1
        assert len(size["load_before"]) == len(size["load_after"]) == 3


def test_plots_are_written(quick_run):
    out, results, _ = quick_run
    assert set(results["plots"]) == {"wait_latency.png", "log_rss.png", "triggers.png"}
    for name in results["plots"]:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
