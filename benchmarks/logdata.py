"""The known bytes a log-writing batch prints, so a reader's copy can be checked byte for byte.

Run as a script by the batch (``python logdata.py --bytes N --line L``) and imported by the
harness to compute the same bytes' CRC-32: both sides call :func:`chunks`. Standard library
only, since the batch runs it with a bare interpreter from any directory.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from collections.abc import Iterator

_LINES_PER_CHUNK = 8192
_FILLER = (  # %-style, so the same template serves every line cheaply
    "settlement batch trade=%s acct=ACC-%06d qty=%d px=%d.%02d ccy=JPY status=SETTLED "
    "ref=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)


def _line(number: int, width: int) -> str:
    text = f"{number:012d} " + _FILLER % (
        number * 7919 % 1_000_000_007,
        number % 1_000_000,
        number % 977,
        number % 10_007,
        number % 100,
    )
    # Every line is exactly `width` bytes with its newline, all ASCII.
    return text[: width - 1].ljust(width - 1, ".") + "\n"


def chunks(total_bytes: int, line_bytes: int) -> Iterator[bytes]:
    """The log, in chunks of whole lines; exactly ``total_bytes``, ending with a newline.

    :param total_bytes: length of the whole log.
    :param line_bytes: length of each line, newline included (the last line may be shorter).
    """
    if line_bytes < 20:
        raise ValueError("lines must be at least 20 bytes")
    full_lines, rest = divmod(total_bytes, line_bytes)
    number = 0
    while number < full_lines:
        count = min(_LINES_PER_CHUNK, full_lines - number)
        yield "".join(_line(n, line_bytes) for n in range(number, number + count)).encode()
        number += count
    if rest:
        yield _line(number, rest).encode() if rest >= 2 else b"\n"


def crc32_of(total_bytes: int, line_bytes: int) -> str:
    """CRC-32 (hex) of the log :func:`chunks` produces.

    CRC-32 rather than a cryptographic hash: it catches a lost, repeated or reordered line just
    as well here, at a fraction of the CPU, and the reader computes it inside the process
    whose throughput is measured.
    """
    crc = 0
    for chunk in chunks(total_bytes, line_bytes):
        crc = zlib.crc32(chunk, crc)
    return f"{crc:08x}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bytes", type=int, required=True)
    parser.add_argument("--line", type=int, required=True)
    args = parser.parse_args(argv)
    out = sys.stdout.buffer
    for chunk in chunks(args.bytes, args.line):
        out.write(chunk)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
