"""``make demo`` end to end: real Airflow (SQLite), the emulator CLI, the example DAGs.

The runs (the balanced settlement, the one with an injected break, and ``--dag
position_rollup``) start at once and run side by side (each demo has its own emulator, Airflow
home and ports), so the module costs one run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "demo.py"
DAY = "2026-11-24"
TASKS = [
    "plan_run",
    "reconcile",
    "register_reconciliation_job",
    "register_settlement_job",
    "report",
    "settle",
    "wait_for_ledger_db",
    "wait_for_market_data",
    "wait_for_trade_capture",
]

pytestmark = pytest.mark.slow


@dataclass
class DemoRun:
    returncode: int
    output: str

    def task_states(self, dag_id: str = "nightly_settlement") -> dict[str, str]:
        summary = self.output.split(f"DAG run {dag_id} / ", 1)[1]
        return dict(re.findall(r"^  (\w+)\s+(\w+)$", summary, flags=re.MULTILINE))


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DemoRun]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOMAD_ADDR", "CONSUL_HTTP_ADDR")}
    procs = {}
    for name, extra in (
        ("balanced", []),
        ("break", ["--inject-break"]),
        ("rollup", ["--dag", "position_rollup"]),
    ):
        home = tmp_path_factory.mktemp(f"demo-{name}")
        procs[name] = subprocess.Popen(
            [sys.executable, str(DEMO), "--home", str(home), "--business-date", DAY, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
    runs = {}
    for name, proc in procs.items():
        output, _ = proc.communicate(timeout=280)
        runs[name] = DemoRun(proc.returncode, output)
    return runs


def test_demo_succeeds_and_streams_the_batch_logs(demo_runs: dict[str, DemoRun]) -> None:
    run = demo_runs["balanced"]
    assert run.returncode == 0, run.output[-3000:]
    # The batches' stdout and stderr, streamed into the task logs as they ran.
    assert re.search(r"\[settle \w+ stdout\] settle 2026-11-24: accounts 1000-1099", run.output)
    assert re.search(r"\[settle \w+ stdout\] settled 949 of 1006 trades", run.output)
    assert re.search(r"\[settle \w+ stderr\] WARNING trade T20261124-", run.output)
    assert re.search(r"\[reconcile \w+ stdout\] BALANCED: all 5 checks passed", run.output)


def test_demo_summary_reports_the_run_and_the_reconciliation(
    demo_runs: dict[str, DemoRun],
) -> None:
    run = demo_runs["balanced"]
    assert re.search(r"DAG run nightly_settlement / manual__\S+: SUCCESS", run.output)
    assert run.task_states() == dict.fromkeys(TASKS, "success")
    assert f"Reconciliation of {DAY} (accounts 1000-1099): BALANCED" in run.output
    assert "ok     journal balance: debits 9,855,112,339 JPY = credits 9,855,112,339 JPY" in (
        run.output
    )
    assert "Task logs:" in run.output


def test_demo_with_an_injected_break_fails_loudly(demo_runs: dict[str, DemoRun]) -> None:
    run = demo_runs["break"]
    assert run.returncode == 1, run.output[-3000:]
    assert re.search(r"\[settle \w+ stderr\] WARNING injected break", run.output)
    assert "NomadJobFailedError" in run.output
    assert re.search(r"reconciliation/dispatch-\S+ failed: .*exited with code 1", run.output)
    states = run.task_states()
    assert states["settle"] == "success"
    assert states["reconcile"] == "failed"
    assert states["report"] == "upstream_failed"
    assert re.search(r"DAG run nightly_settlement / \S+: FAILED", run.output)
    assert "Reconciliation FAILED: the books do not balance" in run.output
    assert "BREAK journal balance: debits 9,855,112,339 JPY != credits" in run.output


def test_demo_runs_position_rollup_on_nomad(demo_runs: dict[str, DemoRun]) -> None:
    """``--dag position_rollup``: the extract job and the @task.nomad roll-up, both on Nomad."""
    run = demo_runs["rollup"]
    assert run.returncode == 0, run.output[-3000:]
    assert "demo: airflow dags test position_rollup" in run.output
    # The extract batch's and the Python function's stdout, from their Nomad allocations.
    assert re.search(r"\[extract \w+ stdout\] account 1000: \d+ instruments", run.output)
    rolled = re.search(
        r"\[python \w+ stdout\] \d+ positions, 100 accounts, ([\d,]+) JPY", run.output
    )
    assert rolled, run.output[-3000:]
    assert re.search(r"DAG run position_rollup / manual__\S+: SUCCESS", run.output)
    assert run.task_states("position_rollup") == dict.fromkeys(
        ["extract_positions", "plan_run", "report", "rollup_positions"], "success"
    )
    # The summary's total is what the function printed on Nomad, returned through XCom.
    assert f"Positions rolled up on Nomad: {rolled.group(1)} JPY" in run.output
