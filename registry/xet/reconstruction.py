"""File reconstruction (XET_PROTOCOL.md §2.6, §4.6): Range parsing, term planning, and streaming the bytes back."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from registry.xet.errors import XetFormatError
from registry.xet.hashing import hash_to_hex
from registry.xet.shard import FileTerm
from registry.xet.xorb import ChunkMeta, decode_chunks


class RangeNotSatisfiable(XetFormatError):
    """The requested byte range starts at or beyond the end of the file (HTTP 416)."""


@dataclass(frozen=True)
class PlannedTerm:
    """Chunks [chunk_start, chunk_end) of a xorb; byte_start/byte_end index its serialized body, end exclusive."""

    xorb_hash: bytes
    chunk_start: int
    chunk_end: int
    unpacked_length: int
    byte_start: int
    byte_end: int


@dataclass(frozen=True)
class Plan:
    """The terms that cover file bytes [start, end] (end inclusive) and how far into the first term they start."""

    offset_into_first_range: int
    terms: tuple[PlannedTerm, ...]
    start: int
    end: int


_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Parse one HTTP byte range ("bytes=a-b", "bytes=a-", "bytes=-n") into an inclusive (start, end) clamped to the
    file; None when there is no header (the whole file). RangeNotSatisfiable when it starts at or past the end."""
    if header is None or not header.strip():
        return None
    m = _RANGE_RE.match(header)
    if not m or (not m.group(1) and not m.group(2)):
        raise XetFormatError(f"unsupported Range header {header[:100]!r}: expected a single bytes=a-b range")
    first, last = m.group(1), m.group(2)
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"range {header.strip()!r} is not satisfiable for a file of {size} bytes")
        return max(0, size - suffix), size - 1
    start = int(first)
    if start >= size:
        raise RangeNotSatisfiable(f"range start {start} is not before the end of the file ({size} bytes)")
    end = size - 1 if not last else int(last)
    if end < start:
        raise XetFormatError(f"invalid Range header {header[:100]!r}: end before start")
    return start, min(end, size - 1)


def plan_reconstruction(
    terms: Sequence[FileTerm], xorb_chunks: Callable[[bytes], Sequence[ChunkMeta]], start: int, end: int
) -> Plan:
    """Cut the file's terms to the chunks overlapping file bytes [start, end] (inclusive), §2.6: the first term starts
    at the chunk containing `start`, the last ends at the chunk containing `end` (clamped to the file size)."""
    if start < 0 or end < start:
        raise XetFormatError(f"invalid byte range {start}-{end}")
    planned: list[PlannedTerm] = []
    offset_into_first = 0
    pos = 0  # file offset of the current chunk
    for i, term in enumerate(terms):
        stored = xorb_chunks(term.xorb_hash)
        if stored is None:
            raise XetFormatError(f"term {i}: unknown xorb {hash_to_hex(term.xorb_hash)}")
        if not 0 <= term.chunk_start < term.chunk_end <= len(stored):
            raise XetFormatError(f"term {i}: bad chunk range [{term.chunk_start}, {term.chunk_end})")
        first = last = None
        length = 0
        for idx in range(term.chunk_start, term.chunk_end):
            c = stored[idx]
            c_start, c_end = pos, pos + c.size  # end exclusive
            pos = c_end
            if c_end <= start or c_start > end:
                continue
            if first is None:
                first = idx
                if not planned:
                    offset_into_first = start - c_start
            last = idx
            length += c.size
        if first is not None:
            planned.append(
                PlannedTerm(term.xorb_hash, first, last + 1, length, stored[first].byte_start, stored[last].byte_end)
            )
        if pos > end:
            break
    if not planned:
        raise RangeNotSatisfiable(f"range start {start} is not before the end of the file ({pos} bytes)")
    # When the loop ran to the end, pos is the file size: clamp `end` to the last byte.
    return Plan(offset_into_first, tuple(planned), start, min(end, pos - 1))


class IterReader:
    """A minimal read(n) file-like view over an iterable of byte pieces (a streamed store read); never copies more
    than n bytes per read. read() or read(-1) returns everything left."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._it = iter(pieces)
        self._buf = b""
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while n < 0 or len(out) < n:
            if self._pos >= len(self._buf):
                piece = next(self._it, None)
                if piece is None:
                    break
                self._buf, self._pos = bytes(piece), 0
                continue
            left = len(self._buf) - self._pos
            take = left if n < 0 else min(n - len(out), left)
            out += self._buf[self._pos : self._pos + take]
            self._pos += take
        return bytes(out)


def iter_reconstruction(plan: Plan, read_range: Callable[[bytes, int, int], Iterable[bytes]]) -> Iterator[bytes]:
    """Yield file bytes [plan.start, plan.end] in order. read_range(xorb_hash, byte_start, byte_end_exclusive) yields
    the serialized bytes of that xorb range; chunks are decoded one at a time."""
    skip = plan.offset_into_first_range
    remaining = plan.end - plan.start + 1
    for term in plan.terms:
        if remaining <= 0:
            break
        reader = IterReader(read_range(term.xorb_hash, term.byte_start, term.byte_end))
        n_chunks = 0
        produced = 0
        for data in decode_chunks(reader):
            n_chunks += 1
            produced += len(data)
            if skip:
                if skip >= len(data):
                    skip -= len(data)
                    continue
                data = data[skip:]
                skip = 0
            if remaining <= 0:
                continue
            if len(data) > remaining:
                data = data[:remaining]
            remaining -= len(data)
            yield data
        expected = term.chunk_end - term.chunk_start
        if n_chunks != expected or produced != term.unpacked_length:
            raise XetFormatError(
                f"xorb {hash_to_hex(term.xorb_hash)} bytes {term.byte_start}-{term.byte_end}: got {n_chunks} chunks "
                f"/ {produced} bytes, expected {expected} chunks / {term.unpacked_length} bytes"
            )
    if remaining > 0:
        raise XetFormatError(f"reconstruction ended {remaining} bytes short")
