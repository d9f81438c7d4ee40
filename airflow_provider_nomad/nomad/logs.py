"""Incremental decoder of Nomad's framed log stream (pure: no I/O).

``GET /v1/client/fs/logs/:alloc`` (not ``plain``) answers with JSON objects concatenated with
no separator, ``{"Offset":n,"Data":"<base64>","File":"alloc/logs/t.stdout.0"}``, every field
optional; ``{}`` is a heartbeat, sent every second while following; ``FileEvent`` is
``"file deleted"`` or ``"file truncated"`` when rotation moved the stream. The network cuts the
stream anywhere, inside a frame, a string or a UTF-8 sequence, so the decoder tracks brace depth
and string state across chunks and parses a frame only once it is complete. It holds at most
one partial frame (a frame carries at most 64 KiB of data), whatever the log's size.
"""

from __future__ import annotations

import binascii
import codecs
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from airflow_provider_nomad.exceptions import NomadLogStreamError

__all__ = ["FILE_DELETED", "FILE_TRUNCATED", "FrameDecoder", "LogFrame", "decode_frames"]

FILE_DELETED = "file deleted"
FILE_TRUNCATED = "file truncated"
#: A frame holds at most 64 KiB of data, i.e. ~87 KiB of base64: 1 MiB is a generous bound.
MAX_FRAME_CHARS = 1024 * 1024

# Outside strings only braces and quotes matter; inside, only quotes and backslashes.
_OUTSIDE_STRING = re.compile(r'[{}"]')
_NOT_SPACE = re.compile(r"\S")


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
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""  # the current partial frame, from its opening brace
        self._pos = 0  # where scanning resumes inside _buf
        self._depth = 0
        self._in_string = False

    def feed(self, chunk: bytes) -> list[LogFrame]:
        """Decode one chunk; return the frames it completes (maybe none).

        :param chunk: bytes as received, cut anywhere.
        """
        try:
            text = self._utf8.decode(chunk)
        except UnicodeDecodeError as exc:
            raise NomadLogStreamError(f"log stream is not UTF-8 JSON: {exc}") from None
        if not text:
            return []
        self._buf += text
        return self._scan()

    def close(self) -> None:
        """Declare the end of the stream; raise if it stopped inside a frame."""
        try:
            self._utf8.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise NomadLogStreamError(f"log stream ended inside a UTF-8 sequence: {exc}") from None
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
                if buf[match.start()] != "{":
                    snippet = buf[match.start() : match.start() + 40]
                    raise NomadLogStreamError(
                        f"log stream is not framed JSON: unexpected {snippet!r} between frames"
                    )
                start = match.start()
                pos = match.end()
                self._depth = 1
                continue
            if self._in_string:
                # str.find is a memchr over the (long, base64) string; a regex scan of the same
                # characters costs several times more and dominated the follower's CPU.
                quote = buf.find('"', pos)
                backslash = buf.find("\\", pos, end if quote < 0 else quote)
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
            if char == '"':
                self._in_string = True
            elif char == "{":
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

    def _parse(self, text: str) -> LogFrame | None:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NomadLogStreamError(f"corrupt log frame: {exc}") from None
        if not isinstance(obj, dict):
            raise NomadLogStreamError("corrupt log frame: not a JSON object")
        data_b64 = obj.get("Data") or ""
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


def decode_frames(chunks: Iterable[bytes]) -> Iterator[LogFrame]:
    """Decode a whole stream given as chunks; raise if it ends inside a frame.

    :param chunks: the stream's bytes, cut anywhere.
    """
    decoder = FrameDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    decoder.close()
