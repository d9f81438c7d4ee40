"""A deterministic trading day: instruments, closing prices, opening balances and trades.

Everything is generated from the business date (and the account number) with seeded random
number generators, so the settlement batch and the reconciliation batch, run at different
times and in different allocations, see exactly the same day. Standard library only: the
batches run under any ``python3`` on a Nomad client.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from dataclasses import dataclass, field

#: Tokyo Stock Exchange instruments: code -> (name, reference price in JPY).
INSTRUMENTS: dict[str, tuple[str, int]] = {
    "7203": ("Toyota Motor", 2_850),
    "6758": ("Sony Group", 3_420),
    "8306": ("Mitsubishi UFJ Financial Group", 1_915),
    "9984": ("SoftBank Group", 9_120),
    "6861": ("Keyence", 61_800),
    "9432": ("NTT", 154),
    "8035": ("Tokyo Electron", 24_350),
    "4063": ("Shin-Etsu Chemical", 5_610),
}
#: The TSE trading unit: quantities are whole lots of 100 shares.
LOT = 100
#: Commission in basis points of the trade value, with a floor in JPY.
COMMISSION_BPS = 5
COMMISSION_MIN_JPY = 100


@dataclass(frozen=True)
class Trade:
    """One execution captured by trade capture, to be settled on the business date."""

    trade_id: str
    account: int
    instrument: str
    side: str  # "BUY" or "SELL"
    quantity: int
    price: int

    @property
    def value(self) -> int:
        return self.quantity * self.price

    @property
    def commission(self) -> int:
        return max(COMMISSION_MIN_JPY, self.value * COMMISSION_BPS // 10_000)


@dataclass
class Balances:
    """Securities positions (shares per instrument) and cash (JPY) of one account."""

    positions: dict[str, int] = field(default_factory=dict)
    cash: int = 0


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"business date must be YYYY-MM-DD, got {text!r}") from None


def parse_account_range(text: str) -> range:
    """``"1000-1099"`` -> ``range(1000, 1100)`` (both ends included)."""
    first, sep, last = text.partition("-")
    try:
        lo, hi = int(first), int(last if sep else first)
    except ValueError:
        raise ValueError(f"account range must look like 1000-1099, got {text!r}") from None
    if lo > hi or lo < 0:
        raise ValueError(f"account range {text!r} is empty or negative")
    return range(lo, hi + 1)


def previous_business_day(day: dt.date) -> dt.date:
    """The weekday before ``day`` (exchange holidays are not modelled)."""
    day -= dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def closing_price(instrument: str, day: dt.date) -> int:
    """The instrument's closing price on ``day``: within 3% of its reference price."""
    rng = random.Random(f"close:{instrument}:{day.isoformat()}")
    reference = INSTRUMENTS[instrument][1]
    return max(1, round(reference * rng.uniform(0.97, 1.03)))


def opening_balances(account: int, day: dt.date) -> Balances:
    """What ``account`` holds at the start of ``day``."""
    rng = random.Random(f"opening:{account}:{day.isoformat()}")
    positions = {
        code: rng.randint(0, 40) * LOT for code in sorted(INSTRUMENTS) if rng.random() < 0.6
    }
    return Balances(positions=positions, cash=rng.randint(20, 300) * 1_000_000)


def trades_for(account: int, day: dt.date) -> list[Trade]:
    """The executions of ``account`` to settle on ``day``, in trade-ID order.

    Generated per account, so an account's trades do not depend on the range requested.
    """
    rng = random.Random(f"trades:{account}:{day.isoformat()}")
    codes = sorted(INSTRUMENTS)
    held = opening_balances(account, day).positions
    trades = []
    for n in range(rng.randint(0, 24)):
        side = rng.choice(("BUY", "SELL"))
        held_codes = [code for code in codes if held.get(code)]
        # Clients mostly sell what they hold; now and then a sell is not covered and fails.
        if side == "SELL" and held_codes and rng.random() < 0.95:
            code = rng.choice(held_codes)
            quantity = rng.randint(1, max(1, held[code] // LOT // 2)) * LOT
        else:
            code = rng.choice(codes)
            quantity = rng.randint(1, 20) * LOT
        close = closing_price(code, day)
        trades.append(
            Trade(
                trade_id=f"T{day:%Y%m%d}-{account}-{n:03d}",
                account=account,
                instrument=code,
                side=side,
                quantity=quantity,
                price=max(1, round(close * rng.uniform(0.995, 1.005))),
            )
        )
    return trades


def captured_trades(accounts: range, day: dt.date) -> list[Trade]:
    """Trade capture's feed for ``accounts`` on ``day``."""
    return [trade for account in accounts for trade in trades_for(account, day)]


def positions_digest(balances: dict[int, Balances]) -> str:
    """A short fingerprint of every account's closing positions and cash."""
    canonical = {
        str(account): {"cash": b.cash, "positions": {k: v for k, v in sorted(b.positions.items())}}
        for account, b in sorted(balances.items())
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def jpy(amount: int) -> str:
    return f"{amount:,} JPY"
