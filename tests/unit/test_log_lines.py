"""Bytes to chunks of whole lines, with offsets that never repeat or drop a line on resume."""

from __future__ import annotations

from airflow_provider_nomad.nomad.log_lines import (
    MAX_LINE_BYTES,
    LineAssembler,
    LogChunk,
    LogStreamKey,
)

KEY = LogStreamKey("0123456789abcdef", "main", "stdout")


def texts(chunks: list[LogChunk]) -> list[str]:
    return [line.text for chunk in chunks for line in chunk.lines()]


def test_lines_split_across_chunks_come_out_whole():
    assembler = LineAssembler(KEY)
    data = "héllo\nwörld\nlast".encode()
    lines = [text for i in range(len(data)) for text in texts(assembler.feed(data[i : i + 1]))]
    assert lines == ["héllo", "wörld"]
    assert assembler.emitted_offset == len("héllo\nwörld\n".encode())
    assert assembler.received_offset == len(data)
    assert texts(assembler.flush()) == ["last"]
    assert assembler.flush() == []


def test_a_chunk_carries_the_bytes_of_every_line_it_completes():
    assembler = LineAssembler(KEY)
    assert assembler.feed(b"one\ntw") == [LogChunk(KEY, b"one\n")]
    assert assembler.feed(b"o\nthree\nfo") == [LogChunk(KEY, b"two\nthree\n")]
    assert assembler.feed(b"ur") == []
    assert assembler.feed(b"\n") == [LogChunk(KEY, b"four\n")]
    assert assembler.received_offset == assembler.emitted_offset == len(b"one\ntwo\nthree\nfour\n")


def test_lines_drop_crlf_and_keep_empty_lines_and_replace_bad_utf8():
    chunk = LineAssembler(KEY).feed(b"dos\r\n\nbad \xff byte\n")[0]
    assert [line.text for line in chunk.lines()] == ["dos", "", "bad \ufffd byte"]
    assert {line.key for line in chunk.lines()} == {KEY}


def test_resuming_from_the_emitted_offset_neither_repeats_nor_drops():
    data = b"".join(f"line {i}\n".encode() for i in range(100))
    first = LineAssembler(KEY)
    seen = texts(first.feed(data[:333]))
    resumed = LineAssembler(KEY, start_offset=first.emitted_offset)
    seen += texts(resumed.feed(data[first.emitted_offset :]))
    assert seen == [f"line {i}" for i in range(100)]


def test_an_endless_line_is_cut_to_bound_memory():
    assembler = LineAssembler(KEY)
    pieces = assembler.feed(b"x" * (MAX_LINE_BYTES * 2 + 5))
    assert [len(text) for text in texts(pieces)] == [MAX_LINE_BYTES, MAX_LINE_BYTES]
    assert assembler.received_offset - assembler.emitted_offset == 5


def test_the_tail_keeps_the_last_lines_of_a_big_chunk():
    assembler = LineAssembler(KEY, tail_lines=3)
    assembler.feed(b"".join(f"line {i}\r\n".encode() for i in range(1000)))
    assert list(assembler.tail) == ["line 997", "line 998", "line 999"]
    assembler.feed(b"x" * MAX_LINE_BYTES + b"\nend")
    assembler.flush()
    assert list(assembler.tail) == ["line 999", "x" * MAX_LINE_BYTES, "end"]


def test_key_round_trips_and_labels():
    assert LogStreamKey.parse(str(KEY)) == KEY
    assert KEY.label == "main 01234567 stdout"
