"""The Go behaviours the emulator reproduces: its error texts depend on them."""

from __future__ import annotations

import pytest

from airflow_provider_nomad.testing.nomad.golang import (
    GoError,
    clean_env_var,
    format_duration,
    format_time,
    go_list,
    parse_bool,
    parse_duration_ns,
    parse_int,
    parse_uint,
)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("300ms", 300_000_000),
        ("1.5s", 1_500_000_000),
        ("5m", 300_000_000_000),
        ("1h2m3s", 3_723_000_000_000),
        ("10us", 10_000),
        ("-2s", -2_000_000_000),
    ],
)
def test_parse_duration(text, ns):
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("5", 'time: missing unit in duration "5"'),
        ("5x", 'time: unknown unit "x" in duration "5x"'),
        ("abc", 'time: invalid duration "abc"'),
    ],
)
def test_parse_duration_errors(text, message):
    with pytest.raises(GoError) as info:
        parse_duration_ns(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (5_000_000_000, "5s"),
        (100_000_000, "100ms"),
        (115_318_227, "115.318227ms"),
        (86_400_000_000_000, "24h0m0s"),
        (90_000_000_000, "1m30s"),
        (1_500, "1.5µs"),
    ],
)
def test_format_duration(ns, text):
    assert format_duration(ns) == text


def test_parse_bool_accepts_go_spellings_and_rejects_others():
    assert parse_bool("True") is True and parse_bool("1") is True and parse_bool("f") is False
    with pytest.raises(GoError, match=r'^strconv.ParseBool: parsing "yes": invalid syntax$'):
        parse_bool("yes")


def test_parse_uint_and_int_are_strict():
    assert parse_uint("42") == 42
    for bad in ("-1", "+1", " 1", "1.0", ""):
        with pytest.raises(GoError):
            parse_uint(bad)
    assert parse_int("-7") == -7
    with pytest.raises(GoError, match=r'parsing "x": invalid syntax'):
        parse_int("x")


def test_format_time_and_lists_and_env_names():
    assert format_time(0) == "0001-01-01T00:00:00Z"
    assert format_time(1_700_000_000_123_400_000) == "2023-11-14T22:13:20.1234Z"
    assert go_list(["a", "b"]) == "[a b]"
    assert clean_env_var("NOMAD_META_run-date") == "NOMAD_META_run_date"
    assert clean_env_var("NOMAD_META_a.b") == "NOMAD_META_a.b"
