"""Settlement batch: settle the business day's trades into positions and cash.

Each captured trade is settled delivery-versus-payment: a buy moves shares into the account and
cash out of it, a sell the other way round, and the commission is charged in cash. A trade the
account cannot cover (shares it does not hold, cash it does not have) fails and is carried
forward, with a warning on stderr. Every settled trade is booked in a double-entry journal; the
result file reports the journal totals, the closing positions and cash, and a digest of every
account's closing balances, which the reconciliation batch checks against the ledger.

Run by Nomad (the ``settlement`` parameterized job)::

    meta:    business_date (YYYY-MM-DD), dry_run, inject_break ("true"/"false")
    payload: {"accounts": {"first": 1000, "last": 1099}}   -> local/accounts.json
    result:  $NOMAD_ALLOC_DIR/settlement.json

Run by hand::

    python3 settle.py --business-date 2026-11-24 --accounts 1000-1099 --result settlement.json

``--inject-break`` (meta ``inject_break=true``) leaves the cash leg of one trade unbooked, the
kind of one-sided booking reconciliation exists to catch.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter

try:  # run as a program, as Nomad does: this file's directory is on sys.path
    import batch_runtime as rt
    import trading_day as td
except ModuleNotFoundError:
    # Imported by file path instead, e.g. by Airflow's DAG processor reading a copy of
    # example_dags/ without its .airflowignore. Appended, the directory shadows nothing.
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    import batch_runtime as rt
    import trading_day as td

PAYLOAD_FILE = "accounts.json"
RESULT_FILE = "settlement.json"
#: The account range a dispatch may ask for: the result's list of failed trades must fit in
#: the 16 KiB dispatch payload of the reconciliation batch.
MAX_ACCOUNTS = 500


class Journal:
    """Double-entry journal totals: every settled movement books a debit and a credit."""

    def __init__(self) -> None:
        self.postings = 0
        self.debits = 0
        self.credits = 0

    def debit(self, amount: int) -> None:
        self.postings += 1
        self.debits += amount

    def credit(self, amount: int) -> None:
        self.postings += 1
        self.credits += amount


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--business-date", help="YYYY-MM-DD (default: meta business_date)")
    parser.add_argument("--accounts", help="account range, e.g. 1000-1099 (default: payload)")
    parser.add_argument("--dry-run", action="store_true", help="settle without posting")
    parser.add_argument("--inject-break", action="store_true", help="leave one cash leg unbooked")
    parser.add_argument("--result", help="result file (default: $NOMAD_ALLOC_DIR/settlement.json)")
    return parser.parse_args(argv)


def accounts_from_payload() -> range:
    data = rt.read_json(rt.read_payload(PAYLOAD_FILE), "the accounts payload")
    try:
        first, last = int(data["accounts"]["first"]), int(data["accounts"]["last"])
    except (KeyError, TypeError, ValueError):
        raise rt.BadInput(
            'the payload must look like {"accounts": {"first": 1000, "last": 1099}}'
        ) from None
    return td.parse_account_range(f"{first}-{last}")


def resolve_inputs(args: argparse.Namespace) -> tuple[td.dt.date, range, bool, bool]:
    date_text = args.business_date or rt.meta("business_date")
    if not date_text:
        raise rt.BadInput("no business date: pass --business-date or meta business_date")
    day = td.parse_date(date_text)
    accounts = td.parse_account_range(args.accounts) if args.accounts else accounts_from_payload()
    if len(accounts) > MAX_ACCOUNTS:
        raise rt.BadInput(
            f"{len(accounts)} accounts asked for; settle at most {MAX_ACCOUNTS} per dispatch"
        )
    dry_run = args.dry_run or rt.flag(rt.meta("dry_run"))
    inject_break = args.inject_break or rt.flag(rt.meta("inject_break"))
    return day, accounts, dry_run, inject_break


def settle(
    day: td.dt.date, accounts: range, *, dry_run: bool, inject_break: bool
) -> dict[str, object]:
    balances = {account: td.opening_balances(account, day) for account in accounts}
    trades = td.captured_trades(accounts, day)
    rt.progress(
        f"loaded {len(trades)} trades from trade capture and opening balances of "
        f"{len(accounts)} accounts"
    )
    journal = Journal()
    failed: list[str] = []
    turnover = commission = 0
    broken_trade: str | None = None
    for number, trade in enumerate(trades, start=1):
        book = balances[trade.account]
        held = book.positions.get(trade.instrument, 0)
        if trade.side == "SELL" and held < trade.quantity:
            failed.append(trade.trade_id)
            rt.warn(
                f"trade {trade.trade_id}: account {trade.account} sells {trade.quantity} "
                f"{trade.instrument} but holds {held}; fails, carried forward"
            )
            continue
        if trade.side == "BUY" and book.cash < trade.value + trade.commission:
            failed.append(trade.trade_id)
            rt.warn(
                f"trade {trade.trade_id}: account {trade.account} lacks "
                f"{td.jpy(trade.value + trade.commission - book.cash)} to pay; fails, "
                "carried forward"
            )
            continue
        sign = 1 if trade.side == "BUY" else -1
        book.positions[trade.instrument] = held + sign * trade.quantity
        # Securities leg and cash leg of delivery-versus-payment, then the commission.
        journal.debit(trade.value)
        if inject_break and broken_trade is None and trade.side == "BUY":
            broken_trade = trade.trade_id
            rt.warn(f"injected break: the cash leg of trade {trade.trade_id} is not booked")
        else:
            journal.credit(trade.value)
            book.cash -= sign * trade.value
        journal.debit(trade.commission)
        journal.credit(trade.commission)
        book.cash -= trade.commission
        turnover += trade.value
        commission += trade.commission
        if number % 250 == 0:
            rt.progress(f"processed {number}/{len(trades)} trades")

    positions: Counter[str] = Counter()
    for book in balances.values():
        positions.update(book.positions)
    cash = sum(book.cash for book in balances.values())
    settled = len(trades) - len(failed)
    rt.progress(
        f"settled {settled} of {len(trades)} trades ({len(failed)} failed, carried forward); "
        f"turnover {td.jpy(turnover)}, commission {td.jpy(commission)}"
    )
    rt.progress(
        f"journal: {journal.postings} postings, debits {td.jpy(journal.debits)}, "
        f"credits {td.jpy(journal.credits)}"
    )
    rt.progress("dry run: nothing posted to the ledger" if dry_run else "posted to the ledger")
    return {
        "program": "settle",
        "business_date": day.isoformat(),
        "accounts": {"first": accounts[0], "last": accounts[-1], "count": len(accounts)},
        "dry_run": dry_run,
        "posted": not dry_run,
        "trades": {"captured": len(trades), "settled": settled, "failed": len(failed)},
        "failed_trade_ids": failed,
        "journal": {
            "postings": journal.postings,
            "debits_jpy": journal.debits,
            "credits_jpy": journal.credits,
        },
        "closing": {
            "positions": dict(sorted(positions.items())),
            "cash_jpy": cash,
            "digest": td.positions_digest(balances),
        },
        "turnover_jpy": turnover,
        "commission_jpy": commission,
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        day, accounts, dry_run, inject_break = resolve_inputs(args)
        result_path = rt.result_path(args.result, RESULT_FILE)
    except (rt.BadInput, ValueError) as exc:
        rt.fail(f"settle: {exc}")
        return rt.EXIT_BAD_INPUT
    rt.progress(
        f"settle {day.isoformat()}: accounts {accounts[0]}-{accounts[-1]} "
        f"({len(accounts)} accounts), dry_run={str(dry_run).lower()}"
    )
    result = settle(day, accounts, dry_run=dry_run, inject_break=inject_break)
    rt.write_result(result_path, result)
    return rt.EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
