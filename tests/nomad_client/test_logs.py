"""The incremental decoder of Nomad's framed log stream."""

from __future__ import annotations

import base64
import json

import pytest

from airflow_provider_nomad.exceptions import NomadLogStreamError
from airflow_provider_nomad.nomad.logs import (
    FILE_DELETED,
    FILE_TRUNCATED,
    FrameDecoder,
    LogFrame,
    decode_frames,
)


def frame(data: bytes | None = None, **fields: object) -> bytes:
    """Encode one frame like Nomad (Go omits empty fields; no separator follows)."""
    obj = dict(fields)
    if data:
        obj["Data"] = base64.b64encode(data).decode()
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# A stream exercising everything: heartbeats, rotation, an escaped quote and backslash and a
# multi-byte character in a file name, a braces-filled payload, file events.
STREAM = b"".join(
    [
        frame(),
        frame(b"line 1\nline {2}\n", Offset=0, File="alloc/logs/batch.stdout.0"),
        frame(),
        frame(b"\xe2\x82\xac and \x00 bytes", Offset=16, File="alloc/logs/batch.stdout.0"),
        frame(FileEvent=FILE_TRUNCATED, File="alloc/logs/batch.stdout.0"),
        frame(b"x" * 70_000, File='alloc/logs/b\\"t\u00e9.stdout.1'),
        frame(FileEvent=FILE_DELETED, File="alloc/logs/batch.stdout.0"),
        frame(),
    ]
)
EXPECTED = [
    LogFrame(b"line 1\nline {2}\n", "alloc/logs/batch.stdout.0", 0, None),
    LogFrame(b"\xe2\x82\xac and \x00 bytes", "alloc/logs/batch.stdout.0", 16, None),
    LogFrame(b"", "alloc/logs/batch.stdout.0", 0, FILE_TRUNCATED),
    LogFrame(b"x" * 70_000, 'alloc/logs/b\\"t\u00e9.stdout.1', 0, None),
    LogFrame(b"", "alloc/logs/batch.stdout.0", 0, FILE_DELETED),
]


def test_whole_stream_in_one_chunk():
    decoder = FrameDecoder()
    assert decoder.feed(STREAM) == EXPECTED
    assert decoder.heartbeats == 3
    assert not decoder.pending
    decoder.close()


def test_every_split_point_of_a_small_stream():
    small = b"".join(
        [
            frame(),
            frame(b'a"{b}\\', Offset=3, File='alloc/logs/t\u00e9\\".stdout.0'),
            frame(FileEvent=FILE_DELETED, File="f"),
            frame(b"z", Offset=9, File="f"),
        ]
    )
    expected = FrameDecoder().feed(small)
    assert len(expected) == 3
    for cut in range(len(small) + 1):
        decoder = FrameDecoder()
        frames = decoder.feed(small[:cut]) + decoder.feed(small[cut:])
        assert frames == expected, f"split at byte {cut}"
        decoder.close()


def test_byte_by_byte():
    decoder = FrameDecoder()
    frames = []
    head = STREAM[:2000]  # the first frames, then part of the big one
    for i in range(len(head)):
        frames.extend(decoder.feed(head[i : i + 1]))
    assert frames == EXPECTED[:3]
    assert decoder.pending
    frames.extend(decoder.feed(STREAM[2000:]))
    assert frames == EXPECTED


def test_every_split_point_of_the_full_stream_in_two_and_three_chunks():
    step = 997  # a prime, so cuts land everywhere relative to frame boundaries
    for cut in range(0, len(STREAM), step):
        second = min(len(STREAM), cut + step // 2)
        chunks = [STREAM[:cut], STREAM[cut:second], STREAM[second:]]
        assert list(decode_frames(chunks)) == EXPECTED, f"split at {cut}/{second}"


def test_heartbeats_only():
    decoder = FrameDecoder()
    assert decoder.feed(b"{}{}  \n{}") == []
    assert decoder.heartbeats == 3


def test_a_chunk_spelling_a_heartbeat_inside_a_frame_is_part_of_the_frame():
    # Heartbeat-only chunks skip the scan: never while a frame is open, where "{}" is content.
    data = base64.b64encode(b"line\n").decode()
    pieces = [b'{"Extra":', b"{}", b',"Data":"' + data.encode() + b'","File":"f"}', b"{}"]
    decoder = FrameDecoder()
    frames = [f for piece in pieces for f in decoder.feed(piece)]
    assert frames == [LogFrame(b"line\n", "f", 0, None)]
    assert decoder.heartbeats == 1
    assert not decoder.pending


def test_a_heartbeat_glued_to_a_frame_is_not_taken_for_heartbeats_only():
    decoder = FrameDecoder()
    assert decoder.feed(b"{}" + frame(b"x", File="f")) == [LogFrame(b"x", "f", 0, None)]
    assert decoder.heartbeats == 1


def test_missing_offset_means_zero_within_file():
    assert FrameDecoder().feed(frame(b"hi", File="f")) == [LogFrame(b"hi", "f", 0, None)]


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (b"not json", "unexpected 'not json' between frames"),
        (b'{"Data":"***"}', "Data is not base64"),
        (b'{"Data":}', "corrupt log frame"),
        (b"\xff{}", "not UTF-8 JSON"),
    ],
)
def test_corrupt_streams_raise(stream, message):
    with pytest.raises(NomadLogStreamError, match=message):
        list(decode_frames([stream]))


def test_truncated_stream_raises_on_close():
    with pytest.raises(NomadLogStreamError, match="ended inside a frame"):
        list(decode_frames([frame(b"abc", File="f")[:-3]]))


def test_memory_is_bounded_by_one_frame():
    decoder = FrameDecoder(max_frame_chars=1000)
    decoder.feed(frame(b"y" * 600, File="f"))  # a complete frame under the bound is fine
    with pytest.raises(NomadLogStreamError, match="larger than 1000"):
        decoder.feed(b'{"Data":"' + b"A" * 2000)


def test_buffer_holds_only_the_partial_frame():
    decoder = FrameDecoder()
    whole = frame(b"q" * 10_000, File="f")
    for _ in range(50):
        decoder.feed(whole)
    decoder.feed(whole[:100])
    assert len(decoder._buf) == 100
    assert decoder.frames == 50


@pytest.mark.parametrize(
    "text",
    [
        b'{"Offset":3,"Data":"aGk/","File":"f"}',  # as Nomad writes it: the fast path
        b'{"Offset": 3, "Data": "aGk/", "File": "f"}',  # other spacing: parsed as JSON
        b'{"Offset":3,"Data":"aGk\\/","File":"f"}',  # an escaped solidus: parsed as JSON
        b'{"File":"f","Offset":3,"Data":"aGk/"}',  # another member order
    ],
)
def test_every_spelling_of_a_frame_decodes_alike(text):
    assert FrameDecoder().feed(text) == [LogFrame(b"hi?", "f", 3, None)]


def test_a_file_name_that_spells_a_data_member_is_not_mistaken_for_it():
    text = b'{"File":"x\\"Data\\":\\"e30=","Data":"aGk/"}'
    assert FrameDecoder().feed(text) == [LogFrame(b"hi?", 'x"Data":"e30=', 0, None)]
