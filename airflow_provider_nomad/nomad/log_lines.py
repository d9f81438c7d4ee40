"""Turning a byte stream into labelled lines, in bounded memory (pure, no I/O)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

#: A line longer than this is emitted in pieces, so one endless line cannot grow memory.
MAX_LINE_BYTES = 64 * 1024


@dataclass(frozen=True)
class LogStreamKey:
    """One log of one task of one allocation."""

    alloc_id: str
    task: str
    stream: str  # "stdout" | "stderr"

    def __str__(self) -> str:
        return f"{self.alloc_id}/{self.task}/{self.stream}"

    @classmethod
    def parse(cls, text: str) -> LogStreamKey:
        alloc_id, task, stream = text.rsplit("/", 2)
        return cls(alloc_id, task, stream)

    @property
    def label(self) -> str:
        return f"{self.task} {self.alloc_id[:8]} {self.stream}"


class LogLine(NamedTuple):
    """One line of one log (a tuple: millions are made for a big log)."""

    key: LogStreamKey
    text: str


class LineAssembler:
    """Splits chunks into complete lines and remembers how many bytes those lines covered.

    ``emitted_offset`` counts only bytes of lines already handed out, so a follower that resumes
    from it (after a dropped connection or a triggerer restart) neither repeats nor drops a line:
    the bytes of an unfinished line are simply read again.
    """

    def __init__(self, key: LogStreamKey, start_offset: int = 0, tail_lines: int = 20) -> None:
        self.key = key
        self.emitted_offset = start_offset
        self._partial = bytearray()
        self.tail: deque[str] = deque(maxlen=tail_lines)

    @property
    def received_offset(self) -> int:
        """Where the next request must start reading."""
        return self.emitted_offset + len(self._partial)

    def feed(self, data: bytes) -> Iterator[LogLine]:
        self._partial += data
        end = self._partial.rfind(b"\n")
        if end >= 0:
            # One split and one decode per chunk, not per line: this is the follower's hot path.
            complete = bytes(self._partial[: end + 1])
            del self._partial[: end + 1]
            key = self.key
            texts = complete.decode("utf-8", errors="replace").split("\n")[:-1]
            self.emitted_offset += len(complete)
            self.tail.extend(texts[-self.tail.maxlen :] if self.tail.maxlen else ())
            for text in texts:
                yield LogLine(key, text[:-1] if text.endswith("\r") else text)
        while len(self._partial) >= MAX_LINE_BYTES:
            piece = bytes(self._partial[:MAX_LINE_BYTES])
            del self._partial[:MAX_LINE_BYTES]
            yield self._line(piece, consumed=len(piece))

    def flush(self) -> Iterator[LogLine]:
        """Hand out an unterminated last line once its stream has ended for good."""
        if self._partial:
            piece = bytes(self._partial)
            self._partial.clear()
            yield self._line(piece, consumed=len(piece))

    def discard_partial(self) -> None:
        """Forget bytes of an unfinished line, e.g. before reading again from emitted_offset."""
        self._partial.clear()

    def _line(self, raw: bytes | bytearray, consumed: int) -> LogLine:
        self.emitted_offset += consumed
        text = bytes(raw).rstrip(b"\r").decode("utf-8", errors="replace")
        self.tail.append(text)
        return LogLine(self.key, text)
