"""The snappy block decoder reads what real snappy encoders write, and refuses broken blocks."""

from __future__ import annotations

import os

import cramjam
import pytest

from airflow_provider_nomad.nomad import snappy
from airflow_provider_nomad.testing.nomad.golang import snappy_encode

SAMPLES = {
    "empty": b"",
    "one byte": b"x",
    "59-byte literal": bytes(range(59)),
    "60-byte literal": bytes(range(60)),
    "random 16 KiB": os.urandom(16 * 1024),
    "repeated pairs": b"ab" * 5000,
    "json meta": b'{"business_date":"2026-12-07","desk":"rates"}' * 300,
    "past one 64 KiB block": os.urandom(70_000) + b"z" * 70_000,
}


@pytest.mark.parametrize("data", SAMPLES.values(), ids=SAMPLES.keys())
def test_reads_a_real_encoders_blocks(data):
    # cramjam wraps the reference Rust snappy, whose copies (1-, 2- and 4-byte offsets)
    # and long literals are what Go's snappy.Encode writes too.
    compressed = bytes(cramjam.snappy.compress_raw(data))
    assert snappy.decompress(compressed) == data


@pytest.mark.parametrize("data", SAMPLES.values(), ids=SAMPLES.keys())
def test_reads_the_emulators_literal_blocks_which_real_snappy_reads_too(data):
    compressed = snappy_encode(data)
    assert snappy.decompress(compressed) == data
    assert bytes(cramjam.snappy.decompress_raw(compressed)) == data


@pytest.mark.parametrize(
    ("block", "says"),
    [
        (b"", "cut or too long"),
        (b"\x80\x80\x80\x80\x80\x01", "cut or too long"),
        (b"\x05\x10abc", "a literal runs past the end"),  # a 5-byte literal holding 3 bytes
        (b"\x04\x01\x01", "a copy reaches back 1 bytes into 0"),  # a copy before any output
        (b"\x08\x02", "an element runs past the end"),  # a 2-byte-offset copy with no offset
        (b"\x05\x10abcde\x05\x01", "holds more than its declared length"),  # 5 bytes, then a copy
    ],
)
def test_refuses_a_broken_block(block, says):
    with pytest.raises(snappy.SnappyError, match=says):
        snappy.decompress(block)


def test_refuses_more_than_the_declared_length():
    # declares 2 bytes, then a 4-byte literal
    with pytest.raises(snappy.SnappyError, match="declares 2 bytes but holds 4"):
        snappy.decompress(b"\x02\x0cabcd")


def test_refuses_a_declared_length_over_the_limit_before_reading_on():
    with pytest.raises(snappy.SnappyError, match="more than the 16 allowed"):
        snappy.decompress(b"\x11" + b"\x00" * 17, max_length=16)
