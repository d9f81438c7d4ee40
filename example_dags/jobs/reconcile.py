"""Reconciliation batch: check the settlement's books against the ledger of record.

The settlement batch's result (its journal totals, closing positions and cash, the trades that
failed) arrives as the dispatch payload. Reconciliation rebuilds the day from the ledger of
record (opening balances and trade capture), replays every trade the settlement says it
settled, and checks:

- journal balance: total debits equal total credits;
- trade count: every captured trade was either settled or failed;
- positions against the ledger: closing shares per instrument equal the replay's;
- cash against the ledger: closing cash equals the replay's;
- account balances: every account's closing positions and cash (by digest) equal the replay's.

Any break is printed on stderr and the batch exits 1, so the Airflow task fails loudly.

Run by Nomad (the ``reconciliation`` parameterized job)::

    meta:    business_date (YYYY-MM-DD)
    payload: the settlement result JSON   -> local/settlement.json
    result:  $NOMAD_ALLOC_DIR/reconciliation.json

Run by hand::

    python3 reconcile.py --settlement settlement.json --result reconciliation.json
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

try:  # run as a program, as Nomad does: this file's directory is on sys.path
    import batch_runtime as rt
    import trading_day as td
except ModuleNotFoundError:
    # Imported by file path instead, e.g. by Airflow's DAG processor reading a copy of
    # example_dags/ without its .airflowignore. Appended, the directory shadows nothing.
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    import batch_runtime as rt
    import trading_day as td

PAYLOAD_FILE = "settlement.json"
RESULT_FILE = "reconciliation.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settlement", help="settlement result file (default: the payload)")
    parser.add_argument("--business-date", help="YYYY-MM-DD (default: meta business_date)")
    parser.add_argument(
        "--result", help="result file (default: $NOMAD_ALLOC_DIR/reconciliation.json)"
    )
    return parser.parse_args(argv)


def load_settlement(args: argparse.Namespace) -> dict[str, Any]:
    if args.settlement:
        path = Path(args.settlement)
        if not path.is_file():
            raise rt.BadInput(f"settlement result {path} does not exist")
        raw = path.read_bytes()
    else:
        raw = rt.read_payload(PAYLOAD_FILE)
    report = rt.read_json(raw, "the settlement result")
    required = ("business_date", "accounts", "trades", "failed_trade_ids", "journal", "closing")
    missing = [key for key in required if not isinstance(report, dict) or key not in report]
    if missing:
        raise rt.BadInput(f"the settlement result lacks {', '.join(missing)}")
    expected_date = args.business_date or rt.meta("business_date")
    if expected_date and expected_date != report["business_date"]:
        raise rt.BadInput(
            f"the settlement result is for {report['business_date']}, not {expected_date}"
        )
    return report


def replay(day: td.dt.date, accounts: range, failed: set[str]) -> dict[int, td.Balances]:
    """Closing balances per the ledger of record: opening balances plus the settled trades."""
    balances = {account: td.opening_balances(account, day) for account in accounts}
    for trade in td.captured_trades(accounts, day):
        if trade.trade_id in failed:
            continue
        book = balances[trade.account]
        sign = 1 if trade.side == "BUY" else -1
        book.positions[trade.instrument] = book.positions.get(trade.instrument, 0) + (
            sign * trade.quantity
        )
        book.cash -= sign * trade.value + trade.commission
    return balances


def check(name: str, ok: bool, expected: Any, actual: Any, detail: str) -> dict[str, Any]:
    if ok:
        rt.progress(f"check {name}: OK ({detail})")
    else:
        rt.fail(f"BREAK {name}: {detail}")
    return {"name": name, "ok": ok, "expected": expected, "actual": actual, "detail": detail}


def reconcile(report: dict[str, Any]) -> dict[str, Any]:
    day = td.parse_date(report["business_date"])
    accounts = range(report["accounts"]["first"], report["accounts"]["last"] + 1)
    failed = set(report["failed_trade_ids"])
    captured = td.captured_trades(accounts, day)
    rt.progress(
        f"reconcile {day.isoformat()}: settlement of accounts {accounts[0]}-{accounts[-1]} "
        f"against {len(captured)} captured trades"
    )
    checks = []

    debits, credits = report["journal"]["debits_jpy"], report["journal"]["credits_jpy"]
    difference = debits - credits
    checks.append(
        check(
            "journal balance",
            difference == 0,
            debits,
            credits,
            f"debits {td.jpy(debits)} = credits {td.jpy(credits)}"
            if difference == 0
            else f"debits {td.jpy(debits)} != credits {td.jpy(credits)} "
            f"(difference {td.jpy(difference)}): the books do not balance",
        )
    )

    counted = report["trades"]["settled"] + report["trades"]["failed"]
    unknown = failed - {trade.trade_id for trade in captured}
    checks.append(
        check(
            "trade count",
            counted == len(captured) == report["trades"]["captured"] and not unknown,
            len(captured),
            counted,
            f"{report['trades']['settled']} settled + {report['trades']['failed']} failed of "
            f"{len(captured)} captured"
            + (
                f"; failed trades unknown to trade capture: {sorted(unknown)[:5]}"
                if unknown
                else ""
            ),
        )
    )

    ledger = replay(day, accounts, failed)
    totals: Counter[str] = Counter()
    for book in ledger.values():
        totals.update(book.positions)
    expected_positions = dict(sorted(totals.items()))
    booked_positions = report["closing"]["positions"]
    off = {
        code: booked_positions.get(code, 0) - qty
        for code, qty in expected_positions.items()
        if booked_positions.get(code, 0) != qty
    }
    digest = td.positions_digest(ledger)
    positions_ok = not off and set(booked_positions) <= set(expected_positions)
    checks.append(
        check(
            "positions against ledger",
            positions_ok,
            expected_positions,
            booked_positions,
            f"{len(expected_positions)} instruments, {sum(expected_positions.values()):,} shares"
            if positions_ok
            else f"booked minus ledger, in shares: {off}",
        )
    )

    expected_cash = sum(book.cash for book in ledger.values())
    booked_cash = report["closing"]["cash_jpy"]
    checks.append(
        check(
            "cash against ledger",
            booked_cash == expected_cash,
            expected_cash,
            booked_cash,
            f"closing cash {td.jpy(booked_cash)}"
            if booked_cash == expected_cash
            else f"booked {td.jpy(booked_cash)} != ledger {td.jpy(expected_cash)} "
            f"(difference {td.jpy(booked_cash - expected_cash)})",
        )
    )

    booked_digest = report["closing"]["digest"]
    checks.append(
        check(
            "account balances",
            booked_digest == digest,
            digest,
            booked_digest,
            f"every account's closing positions and cash match, digest {digest}"
            if booked_digest == digest
            else f"digest {booked_digest} != ledger {digest}: some account's closing "
            "positions or cash differ",
        )
    )

    breaks = [c["name"] for c in checks if not c["ok"]]
    if breaks:
        rt.fail(f"RECONCILIATION FAILED for {day.isoformat()}: {len(breaks)} break(s): {breaks}")
    else:
        rt.progress(f"BALANCED: all {len(checks)} checks passed for {day.isoformat()}")
    return {
        "program": "reconcile",
        "business_date": day.isoformat(),
        "accounts": report["accounts"],
        "status": "breaks" if breaks else "balanced",
        "breaks": breaks,
        "checks": checks,
        "debits_jpy": debits,
        "credits_jpy": credits,
        "dry_run": bool(report.get("dry_run")),
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        report = load_settlement(args)
        result_path = rt.result_path(args.result, RESULT_FILE)
        result = reconcile(report)
    except (rt.BadInput, ValueError, KeyError, TypeError) as exc:
        rt.fail(f"reconcile: bad input: {exc}")
        return rt.EXIT_BAD_INPUT
    rt.write_result(result_path, result)
    return rt.EXIT_OK if result["status"] == "balanced" else rt.EXIT_BREAK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
