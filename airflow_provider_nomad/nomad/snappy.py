"""Snappy block decoding, for the payload of a dispatched job (pure).

Nomad stores a dispatched child's payload snappy-compressed (the block format, no framing) and
serves it so in ``GET /v1/job/:id``; the client decompresses it into the task's directory. The
provider reads it back only to check that a child carries what this task dispatched
(:mod:`~airflow_provider_nomad.nomad.signature`), a few KiB at most (Nomad caps the
uncompressed payload at 16 KiB), so a small decoder here beats a compiled dependency.

Format: a varint of the uncompressed length, then elements whose tag byte's low two bits say
what follows: a literal (its length in the tag, or in the 1-4 bytes after it), or a copy of
earlier output (length and offset in the tag and 1, 2 or 4 bytes after it).
"""

from __future__ import annotations

__all__ = ["SnappyError", "decompress"]

_LITERAL, _COPY_1, _COPY_2, _COPY_4 = range(4)


class SnappyError(ValueError):
    """The bytes are not a valid snappy block."""


def decompress(data: bytes, *, max_length: int = 1 << 20) -> bytes:
    """Decompress one snappy block.

    :param max_length: refuse a block that declares more than this many bytes, before
        allocating anything (the declared length is read from untrusted input).
    """
    length, pos = _varint(data, 0)
    if length > max_length:
        raise SnappyError(f"declares {length} bytes, more than the {max_length} allowed")
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == _LITERAL:
            size = tag >> 2
            if size >= 60:  # the length, minus one, is in the next 1-4 bytes
                extra = size - 59
                size = _little_endian(data, pos, extra)
                pos += extra
            size += 1
            if pos + size > len(data):
                raise SnappyError("a literal runs past the end of the block")
            out += data[pos : pos + size]
            pos += size
            continue
        if kind == _COPY_1:
            size = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | _little_endian(data, pos, 1)
            pos += 1
        else:
            width = 2 if kind == _COPY_2 else 4
            size = 1 + (tag >> 2)
            offset = _little_endian(data, pos, width)
            pos += width
        if offset == 0 or offset > len(out):
            raise SnappyError(f"a copy reaches back {offset} bytes into {len(out)}")
        if len(out) + size > length:
            raise SnappyError("the block holds more than its declared length")
        start = len(out) - offset
        for i in range(size):  # byte by byte: a copy may overlap what it produces
            out.append(out[start + i])
    if len(out) != length:
        raise SnappyError(f"declares {length} bytes but holds {len(out)}")
    return bytes(out)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(5):
        if pos >= len(data):
            break
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise SnappyError("the length at the start of the block is cut or too long")


def _little_endian(data: bytes, pos: int, width: int) -> int:
    if pos + width > len(data):
        raise SnappyError("an element runs past the end of the block")
    return int.from_bytes(data[pos : pos + width], "little")
