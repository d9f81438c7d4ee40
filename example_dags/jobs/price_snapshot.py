"""End-of-day price snapshot: record the business day's closing prices.

A plain (not parameterized) batch job: Nomad runs it once when the job is registered, with the
business date in the job's meta. The desk P&L DAG waits for it with ``NomadAllocationSensor``.

Run by Nomad (the ``eod-price-snapshot`` job)::

    meta:    business_date (YYYY-MM-DD)
    result:  $NOMAD_ALLOC_DIR/prices.json

Run by hand::

    python3 price_snapshot.py --business-date 2026-11-24
"""

from __future__ import annotations

import argparse
import os
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

RESULT_FILE = "prices.json"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--business-date", help="YYYY-MM-DD (default: meta business_date)")
    parser.add_argument("--result", help="result file (default: $NOMAD_ALLOC_DIR/prices.json)")
    args = parser.parse_args(argv)
    date_text = args.business_date or rt.meta("business_date")
    try:
        if not date_text:
            raise rt.BadInput("no business date: pass --business-date or meta business_date")
        day = td.parse_date(date_text)
        result_path = rt.result_path(args.result, RESULT_FILE)
    except (rt.BadInput, ValueError) as exc:
        rt.fail(f"price_snapshot: {exc}")
        return rt.EXIT_BAD_INPUT
    prices = {}
    for code, (name, _) in sorted(td.INSTRUMENTS.items()):
        prices[code] = td.closing_price(code, day)
        rt.progress(f"close {day.isoformat()} {code} {name}: {prices[code]:,} JPY")
    rt.write_result(
        result_path,
        {"program": "price_snapshot", "business_date": day.isoformat(), "close": prices},
    )
    return rt.EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
