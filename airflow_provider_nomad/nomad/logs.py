"""Incremental decoder of Nomad's framed log stream (pure: no I/O).

``GET /v1/client/fs/logs/:alloc`` (not ``plain``) answers with JSON objects concatenated with
no separator, ``{"Offset":n,"Data":"<base64>","File":"alloc/logs/t.stdout.0"}``, every field
optional; ``{}`` is a heartbeat, sent every second while following; ``FileEvent`` is
``"file deleted"`` or ``"file truncated"`` when rotation moved the stream. The network cuts the
stream anywhere, inside a frame, a string or a UTF-8 sequence, so the decoder tracks brace depth
and string state across chunks and parses a frame only once it is complete. It holds at most
one partial frame (a frame carries at most 64 KiB of data), whatever the log's size.

The decoder works on bytes: braces, quotes and backslashes are ASCII and never occur inside a
multi-byte UTF-8 sequence, so the stream need not be decoded to find frames. A frame's base64
``Data`` (nearly all of its bytes) is decoded straight from the buffer; only the rest of the
frame goes through the JSON parser.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from airflow_provider_nomad.exceptions import NomadLogStreamError

__all__ = [
    "FILE_DELETED",
    "FILE_TRUNCATED",
    "FrameDecoder",
    "LogFrame",
    "decode_frames",
    "is_plain_log_answer",
]

FILE_DELETED = "file deleted"
FILE_TRUNCATED = "file truncated"
#: A frame holds at most 64 KiB of data, i.e. ~87 KiB of base64: 1 MiB is a generous bound.
MAX_FRAME_CHARS = 1024 * 1024

# Outside strings only braces and quotes matter; inside, only quotes and backslashes.
_OUTSIDE_STRING = re.compile(rb'[{}"]')
_NOT_SPACE = re.compile(rb"\S")
_HEARTBEAT = b"{}"
# How Nomad (Go's encoding/json) writes the data member; other spellings take the slow path.
_DATA_MEMBER = b'"Data":"'


#: Content types Nomad's plain log answer comes with. Nomad sets none itself, so Go's HTTP
#: server sniffs the first bytes: text/plain for text, application/octet-stream for binary.
_PLAIN_LOG_TYPES = ("text/plain", "application/octet-stream")


def is_plain_log_answer(content_type: str | None) -> bool:
    """Whether a ``plain=true`` log answer with this ``Content-Type`` can be log bytes.

    A proxy's HTML page or a JSON error answered with 200 cannot: written to the task log it
    would pass for the batch's output, and counting its bytes as log bytes would skip the real
    ones. (A log whose first bytes look like HTML is sniffed as HTML too: rare, and read
    through the framed endpoint instead, which checks its own structure.)

    :param content_type: the answer's ``Content-Type`` header, if any.
    """
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in _PLAIN_LOG_TYPES


@dataclass(frozen=True)
class LogFrame:
    """One frame of a log stream.

    :param data: the log bytes it carries (empty for a file event).
    :param file: the file the data came from, e.g. ``alloc/logs/batch.stdout.0``.
    :param offset: where ``data`` starts inside ``file``.
    :param file_event: ``"file deleted"`` or ``"file truncated"``, else ``None``.
    """

    data: bytes
    file: str | None = None
    offset: int | None = None
    file_event: str | None = None


class FrameDecoder:
    """Feeds on raw chunks of the stream, yields complete :class:`LogFrame` s; skips heartbeats.

    :param max_frame_chars: bound of one frame's size, against a corrupt stream eating memory.
    """

    def __init__(self, max_frame_chars: int = MAX_FRAME_CHARS) -> None:
        self.max_frame_chars = max_frame_chars
        self.heartbeats = 0
        self.frames = 0
        self._buf = b""  # the current partial frame, from its opening brace
        self._pos = 0  # where scanning resumes inside _buf
        self._depth = 0
        self._in_string = False

    def feed(self, chunk: bytes) -> list[LogFrame]:
        """Decode one chunk; return the frames it completes (maybe none).

        :param chunk: bytes as received, cut anywhere.
        """
        if not chunk:
            return []
        if not self._buf and _only_heartbeats(chunk):
            # A followed stream is mostly heartbeats (one a second per stream): with thousands
            # of streams in one triggerer, the scan and JSON parse of each added up.
            self.heartbeats += chunk.count(_HEARTBEAT)
            return []
        self._buf = self._buf + chunk if self._buf else bytes(chunk)
        return self._scan()

    def close(self) -> None:
        """Declare the end of the stream; raise if it stopped inside a frame."""
        if self.pending:
            raise NomadLogStreamError(
                f"log stream ended inside a frame ({len(self._buf)} characters pending)"
            )

    @property
    def pending(self) -> bool:
        """Whether a partial frame is waiting for more bytes."""
        return self._depth > 0 or bool(self._buf.strip())

    def _scan(self) -> list[LogFrame]:
        frames: list[LogFrame] = []
        buf, pos, start = self._buf, self._pos, 0
        end = len(buf)
        while pos < end:
            if self._depth == 0:
                match = _NOT_SPACE.search(buf, pos)
                if match is None:
                    pos = start = end
                    break
                if buf[match.start()] != 0x7B:  # "{"
                    raise _junk_between_frames(buf[match.start() : match.start() + 40])
                start = match.start()
                pos = match.end()
                self._depth = 1
                continue
            if self._in_string:
                # str.find is a memchr over the (long, base64) string; a regex scan of the same
                # characters costs several times more and dominated the follower's CPU.
                quote = buf.find(b'"', pos)
                backslash = buf.find(b"\\", pos, end if quote < 0 else quote)
                if backslash >= 0:
                    if backslash + 1 >= end:
                        pos = backslash  # rescan the backslash when its pair arrives
                        break
                    pos = backslash + 2
                    continue
                if quote < 0:
                    pos = end
                    break
                self._in_string = False
                pos = quote + 1
                continue
            match = _OUTSIDE_STRING.search(buf, pos)
            if match is None:
                pos = end
                break
            pos = match.end()
            char = match.group()
            if char == b'"':
                self._in_string = True
            elif char == b"{":
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    frame = self._parse(buf[start:pos])
                    if frame is not None:
                        frames.append(frame)
                    start = pos
        self._buf = buf[start:]
        self._pos = pos - start
        if len(self._buf) > self.max_frame_chars:
            raise NomadLogStreamError(
                f"log frame larger than {self.max_frame_chars} characters: the stream is corrupt"
            )
        return frames

    def _parse(self, text: bytes) -> LogFrame | None:
        data_b64: bytes | str | memoryview = b""
        start = text.find(_DATA_MEMBER)
        if start >= 0:
            # The data string ends at the next quote unless it holds an escape, which base64
            # never needs: then, and for any other spelling, the whole frame is parsed as JSON.
            begin = start + len(_DATA_MEMBER)
            stop = text.find(b'"', begin)
            if stop >= 0 and text.find(b"\\", begin, stop) < 0:
                data_b64 = memoryview(text)[begin:stop]
                text = text[:begin] + text[stop:]
        obj = _json_object(text)
        data_b64 = data_b64 or obj.get("Data") or ""
        file = obj.get("File") or None
        file_event = obj.get("FileEvent") or None
        if not data_b64 and not file and not file_event:
            self.heartbeats += 1
            return None
        try:
            data = binascii.a2b_base64(data_b64, strict_mode=True) if data_b64 else b""
        except (binascii.Error, ValueError, TypeError) as exc:
            raise NomadLogStreamError(f"corrupt log frame: Data is not base64 ({exc})") from None
        offset = obj.get("Offset")
        self.frames += 1
        return LogFrame(
            data=data,
            file=file,
            offset=int(offset) if offset is not None else (0 if file else None),
            file_event=file_event,
        )


def _only_heartbeats(chunk: bytes) -> bool:
    """Whether ``chunk`` holds whole ``{}`` heartbeats (and whitespace) and nothing else."""
    return chunk[:2] == _HEARTBEAT and not chunk.replace(_HEARTBEAT, b"").strip()


def _json_object(text: bytes) -> dict:
    try:
        obj = json.loads(text)
    except UnicodeDecodeError as exc:
        raise NomadLogStreamError(f"log stream is not UTF-8 JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise NomadLogStreamError(f"corrupt log frame: {exc}") from None
    if not isinstance(obj, dict):
        raise NomadLogStreamError("corrupt log frame: not a JSON object")
    return obj


def _junk_between_frames(snippet: bytes) -> NomadLogStreamError:
    try:
        text = snippet.decode("utf-8")
    except UnicodeDecodeError as exc:
        return NomadLogStreamError(f"log stream is not UTF-8 JSON: {exc}")
    return NomadLogStreamError(f"log stream is not framed JSON: unexpected {text!r} between frames")


def decode_frames(chunks: Iterable[bytes]) -> Iterator[LogFrame]:
    """Decode a whole stream given as chunks; raise if it ends inside a frame.

    :param chunks: the stream's bytes, cut anywhere.
    """
    decoder = FrameDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    decoder.close()
