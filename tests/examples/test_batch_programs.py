"""The batch programs of the example DAGs, run directly with Python, by hand and as Nomad would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

JOBS = Path(__file__).resolve().parents[2] / "example_dags" / "jobs"
DAY = "2026-11-24"


def run(program: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, str(JOBS / program), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
    )


@pytest.fixture
def settlement(tmp_path: Path) -> Path:
    out = tmp_path / "settlement.json"
    done = run("settle.py", "--business-date", DAY, "--accounts", "1000-1049", "--result", str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_settle_writes_a_balanced_result_and_reports_progress(settlement: Path) -> None:
    result = json.loads(settlement.read_text())
    assert result["business_date"] == DAY
    assert result["accounts"] == {"first": 1000, "last": 1049, "count": 50}
    trades = result["trades"]
    assert trades["captured"] == trades["settled"] + trades["failed"] > 0
    assert len(result["failed_trade_ids"]) == trades["failed"]
    assert result["journal"]["debits_jpy"] == result["journal"]["credits_jpy"] > 0
    assert result["posted"] is True


def test_settle_prints_progress_on_stdout_and_failed_trades_on_stderr(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    done = run("settle.py", "--business-date", DAY, "--accounts", "1000-1099", "--result", str(out))
    assert done.returncode == 0
    assert f"settle {DAY}: accounts 1000-1099 (100 accounts)" in done.stdout
    assert "processed 250/" in done.stdout
    assert "journal:" in done.stdout and "posted to the ledger" in done.stdout
    failed = json.loads(out.read_text())["trades"]["failed"]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING trade ")]
    assert len(warnings) == failed > 0


def test_settlement_is_deterministic_per_business_date(tmp_path: Path) -> None:
    results = []
    for name, day in (("a", DAY), ("b", DAY), ("c", "2026-11-25")):
        out = tmp_path / f"{name}.json"
        assert (
            run(
                "settle.py", "--business-date", day, "--accounts", "1000-1019", "--result", str(out)
            ).returncode
            == 0
        )
        results.append(json.loads(out.read_text()))
    assert results[0] == results[1]
    assert results[0]["closing"]["digest"] != results[2]["closing"]["digest"]


def test_reconcile_balanced_settlement_exits_0_with_json(settlement: Path, tmp_path: Path) -> None:
    out = tmp_path / "reconciliation.json"
    done = run("reconcile.py", "--settlement", str(settlement), "--result", str(out))
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["status"] == "balanced"
    assert result["breaks"] == []
    assert [c["name"] for c in result["checks"]] == [
        "journal balance",
        "trade count",
        "positions against ledger",
        "cash against ledger",
        "account balances",
    ]
    assert all(c["ok"] for c in result["checks"])
    assert f"BALANCED: all 5 checks passed for {DAY}" in done.stdout
    assert done.stderr == ""


def test_injected_break_makes_reconciliation_fail_loudly(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    settle = run(
        "settle.py",
        "--business-date",
        DAY,
        "--accounts",
        "1000-1049",
        "--inject-break",
        "--result",
        str(broken),
    )
    assert settle.returncode == 0  # settlement itself does not notice: that is reconciliation's job
    assert "WARNING injected break: the cash leg of trade" in settle.stderr
    booked = json.loads(broken.read_text())["journal"]
    assert booked["debits_jpy"] > booked["credits_jpy"]

    out = tmp_path / "reconciliation.json"
    done = run("reconcile.py", "--settlement", str(broken), "--result", str(out))
    assert done.returncode == 1
    assert "BREAK journal balance" in done.stderr
    assert "the books do not balance" in done.stderr
    assert "BREAK cash against ledger" in done.stderr
    assert f"RECONCILIATION FAILED for {DAY}" in done.stderr
    result = json.loads(out.read_text())
    assert result["status"] == "breaks"
    assert set(result["breaks"]) == {"journal balance", "cash against ledger", "account balances"}
    difference = result["checks"][0]["expected"] - result["checks"][0]["actual"]
    assert difference == booked["debits_jpy"] - booked["credits_jpy"]


def test_tampered_positions_are_a_break(settlement: Path, tmp_path: Path) -> None:
    report = json.loads(settlement.read_text())
    code = next(iter(report["closing"]["positions"]))
    report["closing"]["positions"][code] += 100
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(report))
    done = run("reconcile.py", "--settlement", str(tampered), "--result", str(tmp_path / "r.json"))
    assert done.returncode == 1
    assert f"BREAK positions against ledger: booked minus ledger, in shares: {{'{code}': 100}}" in (
        done.stderr
    )


@pytest.mark.parametrize(
    ("program", "args", "message"),
    [
        ("settle.py", ["--accounts", "1000-1009"], "no business date"),
        ("settle.py", ["--business-date", "24/11/2026", "--accounts", "1-2"], "YYYY-MM-DD"),
        ("settle.py", ["--business-date", DAY, "--accounts", "1000-1999"], "at most 500"),
        ("settle.py", ["--business-date", DAY], "not started by Nomad"),
        ("reconcile.py", ["--settlement", "/nonexistent/settlement.json"], "does not exist"),
        ("desk_pnl.py", ["--desk", "fx-options", "--business-date", DAY], "unknown desk"),
        ("price_snapshot.py", [], "no business date"),
    ],
)
def test_bad_input_exits_2_with_a_message(program: str, args: list[str], message: str) -> None:
    done = run(program, *args)
    assert done.returncode == 2
    assert message in done.stderr


def test_reconcile_refuses_a_settlement_for_another_day(settlement: Path) -> None:
    done = run("reconcile.py", "--settlement", str(settlement), "--business-date", "2026-11-25")
    assert done.returncode == 2
    assert f"is for {DAY}, not 2026-11-25" in done.stderr


def test_programs_run_as_nomad_runs_them(tmp_path: Path) -> None:
    """Meta from NOMAD_META_*, payload from the task dir, result into the allocation dir."""
    alloc_dir, task_dir = tmp_path / "alloc", tmp_path / "settle" / "local"
    alloc_dir.mkdir()
    task_dir.mkdir(parents=True)
    (task_dir / "accounts.json").write_text('{"accounts": {"first": 2000, "last": 2009}}')
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMAD_ALLOC_DIR": str(alloc_dir),
        "NOMAD_TASK_DIR": str(task_dir),
        "NOMAD_META_business_date": DAY,
        "NOMAD_META_DRY_RUN": "true",  # Nomad exports meta keys upper-cased too
        "NOMAD_META_inject_break": "false",
    }
    settle = run("settle.py", env=env, cwd=tmp_path)
    assert settle.returncode == 0, settle.stderr
    assert "dry run: nothing posted to the ledger" in settle.stdout
    report = json.loads((alloc_dir / "settlement.json").read_text())
    assert report["accounts"]["first"] == 2000 and report["dry_run"] is True

    (task_dir / "settlement.json").write_text(json.dumps(report))
    reconcile = run("reconcile.py", env=env, cwd=tmp_path)
    assert reconcile.returncode == 0, reconcile.stderr
    assert json.loads((alloc_dir / "reconciliation.json").read_text())["status"] == "balanced"


def test_desk_pnl_and_price_snapshot(tmp_path: Path) -> None:
    pnl = run(
        "desk_pnl.py",
        "--desk",
        "delta-one",
        "--business-date",
        DAY,
        "--result",
        str(tmp_path / "pnl.json"),
    )
    assert pnl.returncode == 0, pnl.stderr
    result = json.loads((tmp_path / "pnl.json").read_text())
    assert result["desk"] == "delta-one"
    assert result["pnl_jpy"] == sum(result["by_instrument"].values())
    assert f"delta-one P&L for {DAY} (against 2026-11-23)" in pnl.stdout

    snapshot = run(
        "price_snapshot.py", "--business-date", DAY, "--result", str(tmp_path / "prices.json")
    )
    assert snapshot.returncode == 0, snapshot.stderr
    prices = json.loads((tmp_path / "prices.json").read_text())["close"]
    assert len(prices) == 8 and all(p > 0 for p in prices.values())
