"""Desk P&L batch: mark one trading desk's book to the business day's closing prices.

P&L per instrument = position x (close on the business date - close on the previous business
day). One dispatch per desk; the Airflow DAG maps the dispatch over the list of desks.

Run by Nomad (the ``desk-pnl`` parameterized job)::

    meta:    desk, business_date (YYYY-MM-DD)
    result:  $NOMAD_ALLOC_DIR/desk_pnl.json

Run by hand::

    python3 desk_pnl.py --desk delta-one --business-date 2026-11-24
"""

from __future__ import annotations

import argparse
import os
import random
import sys

try:  # run as a program, as Nomad does: this file's directory is on sys.path
    import batch_runtime as rt
    import trading_day as td
except ModuleNotFoundError:
    # Imported by file path instead, e.g. by Airflow's DAG processor reading a copy of
    # example_dags/ without its .airflowignore. Appended, the directory shadows nothing.
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    import batch_runtime as rt
    import trading_day as td

RESULT_FILE = "desk_pnl.json"
DESKS = ("cash-equities", "delta-one", "market-making", "prop-trading")


def desk_book(desk: str) -> dict[str, int]:
    """The desk's positions in shares (negative: short)."""
    rng = random.Random(f"desk:{desk}")
    return {code: rng.randint(-50, 50) * td.LOT for code in sorted(td.INSTRUMENTS)}


def mark_to_market(desk: str, day: td.dt.date) -> dict[str, object]:
    previous = td.previous_business_day(day)
    by_instrument = {}
    for code, quantity in desk_book(desk).items():
        move = td.closing_price(code, day) - td.closing_price(code, previous)
        by_instrument[code] = quantity * move
        rt.progress(
            f"{desk} {code} {td.INSTRUMENTS[code][0]}: {quantity:+,} shares x {move:+,} JPY "
            f"= {by_instrument[code]:+,} JPY"
        )
    total = sum(by_instrument.values())
    rt.progress(
        f"{desk} P&L for {day.isoformat()} (against {previous.isoformat()}): {total:+,} JPY"
    )
    return {
        "program": "desk_pnl",
        "desk": desk,
        "business_date": day.isoformat(),
        "pnl_jpy": total,
        "by_instrument": by_instrument,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--desk", help=f"one of {', '.join(DESKS)} (default: meta desk)")
    parser.add_argument("--business-date", help="YYYY-MM-DD (default: meta business_date)")
    parser.add_argument("--result", help="result file (default: $NOMAD_ALLOC_DIR/desk_pnl.json)")
    args = parser.parse_args(argv)
    desk = args.desk or rt.meta("desk")
    date_text = args.business_date or rt.meta("business_date")
    try:
        if desk not in DESKS:
            raise rt.BadInput(f"unknown desk {desk!r}; desks: {', '.join(DESKS)}")
        if not date_text:
            raise rt.BadInput("no business date: pass --business-date or meta business_date")
        day = td.parse_date(date_text)
        result_path = rt.result_path(args.result, RESULT_FILE)
    except (rt.BadInput, ValueError) as exc:
        rt.fail(f"desk_pnl: {exc}")
        return rt.EXIT_BAD_INPUT
    rt.write_result(result_path, mark_to_market(desk, day))
    return rt.EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
