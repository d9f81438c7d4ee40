"""Position extract: every position of an account range at the business day's close.

A whole (not parameterized) batch job, run by the position_rollup DAG with
``NomadRunJobOperator``: one job per DAG run, registered under an ID of that task instance.

Run by Nomad (the ``position-extract`` job)::

    meta:    business_date (YYYY-MM-DD), accounts (e.g. 1000-1019)
    result:  $NOMAD_ALLOC_DIR/positions.json

Run by hand::

    python3 position_extract.py --business-date 2026-11-24 --accounts 1000-1019
"""

from __future__ import annotations

import argparse
import os
import sys

try:  # run as a program, as Nomad does: this file's directory is on sys.path
    import batch_runtime as rt
    import trading_day as td
except ModuleNotFoundError:
    # Imported by file path instead, e.g. by a DAG processor reading a copy of example_dags/
    # without its .airflowignore. Appended, the directory shadows nothing.
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    import batch_runtime as rt
    import trading_day as td

RESULT_FILE = "positions.json"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--business-date", help="YYYY-MM-DD (default: meta business_date)")
    parser.add_argument("--accounts", help="account range (default: meta accounts)")
    parser.add_argument("--result", help="result file (default: $NOMAD_ALLOC_DIR/positions.json)")
    args = parser.parse_args(argv)
    try:
        date_text = args.business_date or rt.meta("business_date")
        range_text = args.accounts or rt.meta("accounts")
        if not date_text or not range_text:
            raise rt.BadInput("pass --business-date and --accounts, or meta of the same names")
        day = td.parse_date(date_text)
        accounts = td.parse_account_range(range_text)
        result_path = rt.result_path(args.result, RESULT_FILE)
    except (rt.BadInput, ValueError) as exc:
        rt.fail(f"position_extract: {exc}")
        return rt.EXIT_BAD_INPUT
    close = {code: td.closing_price(code, day) for code in sorted(td.INSTRUMENTS)}
    positions = []
    for account in accounts:
        held = td.opening_balances(account, day).positions
        for code, quantity in sorted(held.items()):
            if quantity:
                positions.append({"account": account, "instrument": code, "quantity": quantity})
        rt.progress(f"account {account}: {len(held)} instruments")
    rt.write_result(
        result_path,
        {
            "program": "position_extract",
            "business_date": day.isoformat(),
            "close_jpy": close,
            "positions": positions,
        },
    )
    return rt.EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
