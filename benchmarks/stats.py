"""Small statistics: percentiles and the median/min/max summaries the report prints."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation; ``None`` without values.

    :param values: the samples.
    :param q: the percentile, e.g. 50 or 99.
    """
    data = sorted(values)
    if not data:
        return None
    if len(data) == 1:
        return float(data[0])
    rank = (len(data) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return float(data[low] + (data[high] - data[low]) * (rank - low))


def summarize(values: Iterable[float]) -> dict[str, Any]:
    """``{"n", "median", "min", "max", "p50", "p99"}`` of the samples (``None`` when empty)."""
    data = [float(v) for v in values]
    return {
        "n": len(data),
        "median": percentile(data, 50),
        "min": min(data) if data else None,
        "max": max(data) if data else None,
        "p50": percentile(data, 50),
        "p99": percentile(data, 99),
    }


def spread(values: Iterable[float]) -> dict[str, Any]:
    """``{"n", "median", "min", "max"}``: how a figure varied over repeats."""
    data = [float(v) for v in values]
    return {
        "n": len(data),
        "median": percentile(data, 50),
        "min": min(data) if data else None,
        "max": max(data) if data else None,
    }
