"""Bytes to lines, with offsets that never repeat or drop a line on resume."""

from __future__ import annotations

from airflow_provider_nomad.nomad.log_lines import MAX_LINE_BYTES, LineAssembler, LogStreamKey

KEY = LogStreamKey("0123456789abcdef", "main", "stdout")


def test_lines_split_across_chunks_come_out_whole():
    assembler = LineAssembler(KEY)
    data = "héllo\nwörld\nlast".encode()
    lines = [line.text for i in range(len(data)) for line in assembler.feed(data[i : i + 1])]
    assert lines == ["héllo", "wörld"]
    assert assembler.emitted_offset == len("héllo\nwörld\n".encode())
    assert assembler.received_offset == len(data)
    assert [line.text for line in assembler.flush()] == ["last"]


def test_resuming_from_the_emitted_offset_neither_repeats_nor_drops():
    data = b"".join(f"line {i}\n".encode() for i in range(100))
    first = LineAssembler(KEY)
    seen = [line.text for line in first.feed(data[:333])]
    resumed = LineAssembler(KEY, start_offset=first.emitted_offset)
    seen += [line.text for line in resumed.feed(data[first.emitted_offset :])]
    assert seen == [f"line {i}" for i in range(100)]


def test_an_endless_line_is_cut_to_bound_memory():
    assembler = LineAssembler(KEY)
    pieces = list(assembler.feed(b"x" * (MAX_LINE_BYTES * 2 + 5)))
    assert [len(p.text) for p in pieces] == [MAX_LINE_BYTES, MAX_LINE_BYTES]
    assert assembler.received_offset - assembler.emitted_offset == 5


def test_key_round_trips_and_labels():
    assert LogStreamKey.parse(str(KEY)) == KEY
    assert KEY.label == "main 01234567 stdout"
