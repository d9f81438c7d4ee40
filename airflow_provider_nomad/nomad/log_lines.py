"""Turning a byte stream into blocks of complete lines, in bounded memory (pure, no I/O)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

#: A line longer than this is emitted in pieces, so one endless line cannot grow memory.
MAX_LINE_BYTES = 64 * 1024

_NEWLINE = b"\n"


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
    """One line of one log, without its line ending."""

    key: LogStreamKey
    text: str


class LogChunk(NamedTuple):
    """Complete lines of one log, as the bytes arrived.

    ``data`` ends with a newline, except for the piece of a line longer than
    :data:`MAX_LINE_BYTES` and the unterminated last line of a stream that has ended: each of
    those is one line by itself. Consumers that copy bytes (a file, a checksum) take ``data``
    as it is; consumers that want text call :meth:`lines`. Keeping the block whole is what
    lets a big log through at the speed of the connection: the per-line work in Python, not
    the network, was what bounded the follower.
    """

    key: LogStreamKey
    data: bytes

    def lines(self) -> list[LogLine]:
        """The lines of the chunk, decoded as UTF-8 (invalid bytes replaced), ``\\r\\n`` too."""
        texts = self.data.decode("utf-8", errors="replace").split("\n")
        if self.data.endswith(_NEWLINE):
            texts.pop()  # the empty text after the last newline
        key = self.key
        return [LogLine(key, text[:-1] if text.endswith("\r") else text) for text in texts]


class LineAssembler:
    """Cuts a byte stream into chunks of complete lines; remembers how many bytes they covered.

    ``emitted_offset`` counts only bytes of lines already handed out, so a follower that resumes
    from it (after a dropped connection or a triggerer restart) neither repeats nor drops a line:
    the bytes of an unfinished line are simply read again.

    :param key: the log the bytes belong to.
    :param start_offset: bytes of this log already handed out before.
    :param tail_lines: how many of the last lines :attr:`tail` gives.
    """

    def __init__(self, key: LogStreamKey, start_offset: int = 0, tail_lines: int = 20) -> None:
        self.key = key
        self.emitted_offset = start_offset
        self.tail_lines = tail_lines
        self._partial = bytearray()
        # The last chunks, enough of them to hold ``tail_lines`` lines: the tail is decoded
        # only when asked for (a failed task's message), never on the hot path.
        self._recent: deque[LogChunk] = deque()

    @property
    def tail(self) -> list[str]:
        """The last ``tail_lines`` lines handed out."""
        texts = [line.text for chunk in self._recent for line in chunk.lines()]
        return texts[-self.tail_lines :] if self.tail_lines else []

    @property
    def received_offset(self) -> int:
        """Where the next request must start reading."""
        return self.emitted_offset + len(self._partial)

    def feed(self, data: bytes) -> list[LogChunk]:
        """The chunks that ``data`` completes (often one, maybe none)."""
        chunks: list[LogChunk] = []
        end = data.rfind(_NEWLINE)
        if end >= 0:
            # One search and one copy per chunk received, whatever the number of lines in it.
            if self._partial:
                self._partial += memoryview(data)[: end + 1]
                complete = bytes(self._partial)
                self._partial.clear()
            else:
                complete = data if end + 1 == len(data) else data[: end + 1]
            self._partial += memoryview(data)[end + 1 :]
            chunks.append(self._emit(complete))
        else:
            self._partial += data
        while len(self._partial) >= MAX_LINE_BYTES:
            piece = bytes(self._partial[:MAX_LINE_BYTES])
            del self._partial[:MAX_LINE_BYTES]
            chunks.append(self._emit(piece))
        return chunks

    def flush(self) -> list[LogChunk]:
        """Hand out an unterminated last line once its stream has ended for good."""
        if not self._partial:
            return []
        piece = bytes(self._partial)
        self._partial.clear()
        return [self._emit(piece)]

    def discard_partial(self) -> None:
        """Forget bytes of an unfinished line, e.g. before reading again from emitted_offset."""
        self._partial.clear()

    def _emit(self, data: bytes) -> LogChunk:
        self.emitted_offset += len(data)
        chunk = LogChunk(self.key, data)
        if self.tail_lines:
            self._remember(chunk)
        return chunk

    def _remember(self, chunk: LogChunk) -> None:
        if _holds_lines(chunk.data, self.tail_lines):
            self._recent.clear()
        self._recent.append(chunk)
        # Every chunk holds at least one line, so this many chunks always hold enough.
        while len(self._recent) > self.tail_lines:
            self._recent.popleft()


def _holds_lines(data: bytes, count: int) -> bool:
    """Whether ``data`` (a chunk) holds at least ``count`` lines, looking only at its end.

    Counting every newline of a big chunk cost as much as reading it; this looks back
    ``count`` lines at most.
    """
    newlines = count if data.endswith(_NEWLINE) else count - 1
    end = len(data)
    for _ in range(newlines):
        end = data.rfind(_NEWLINE, 0, end)
        if end < 0:
            return False
    return True
