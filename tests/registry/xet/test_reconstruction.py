"""Range parsing, §2.6 term cutting and streamed reconstruction (XET_PROTOCOL.md §2.6, §4.6)."""

from __future__ import annotations

import os

import pytest

from registry.xet import (
    FileTerm,
    RangeNotSatisfiable,
    XetFormatError,
    build_xorb,
    iter_reconstruction,
    parse_range,
    plan_reconstruction,
)


@pytest.fixture(scope="module")
def world():
    """Two xorbs with mixed schemes and a file of four terms that reuses chunks of both out of order."""
    a_chunks = [os.urandom(n) for n in (1000, 1500, 700, 2000, 1200)]
    b_chunks = [bytes([i]) * n for i, n in enumerate((3000, 800, 2500))]
    a_body, a = build_xorb(a_chunks, [0, 1, 2, 0, 1])
    b_body, b = build_xorb(b_chunks, [1, 2, 1])
    bodies = {a.hash: a_body, b.hash: b_body}
    infos = {a.hash: a, b.hash: b}
    spec = [(a, a_chunks, 0, 2), (b, b_chunks, 0, 3), (a, a_chunks, 2, 5), (b, b_chunks, 1, 2)]
    terms = [FileTerm(x.hash, sum(len(c) for c in chunks[s:e]), s, e) for x, chunks, s, e in spec]
    data = b"".join(b"".join(chunks[s:e]) for _, chunks, s, e in spec)
    reads: list[tuple[bytes, int, int]] = []

    def read_range(xorb_hash: bytes, start: int, end: int):
        reads.append((xorb_hash, start, end))
        body = bodies[xorb_hash][start:end]
        for i in range(0, len(body), 333):  # streamed in small pieces, like an S3 ranged GET
            yield body[i : i + 333]

    return {"terms": terms, "data": data, "infos": infos, "read_range": read_range, "reads": reads}


def _chunks(world):
    return lambda h: world["infos"][h].chunks


def _interesting_ranges(size: int) -> list[tuple[int, int]]:
    # Term boundaries are at 2500, 8800, 12700; chunk boundaries inside terms at 1000, 5500, 6300, 3200 + ...
    return [
        (0, size - 1),  # whole file
        (10, 20),  # inside one chunk
        (999, 1000),  # across a chunk boundary
        (2499, 2500),  # across a term boundary
        (2500, 2500),  # first byte of a term
        (1200, 9000),  # across several terms
        (2400, 12_000),  # first and last term partially
        (size - 1, size - 1),  # last byte
        (size - 801, size - 1),  # exactly the last term
        (7000, size + 5000),  # end past the file is clamped
    ]


def test_every_interesting_range_yields_exactly_those_bytes(world):
    data = world["data"]
    for start, end in _interesting_ranges(len(data)):
        plan = plan_reconstruction(world["terms"], _chunks(world), start, end)
        got = b"".join(iter_reconstruction(plan, world["read_range"]))
        assert got == data[start : end + 1], (start, end)
        assert plan.start == start and plan.end == min(end, len(data) - 1)


def test_plan_cuts_terms_to_the_chunks_that_overlap(world):
    a, b = world["infos"].values()
    # Bytes 1200..9000: starts in chunk 1 of the first term (a[1] covers 1000..2499), ends in the third term,
    # whose chunks are a[2] (8800..9499), a[3], a[4].
    plan = plan_reconstruction(world["terms"], _chunks(world), 1200, 9000)
    assert plan.offset_into_first_range == 200
    assert [(t.xorb_hash, t.chunk_start, t.chunk_end) for t in plan.terms] == [
        (a.hash, 1, 2),
        (b.hash, 0, 3),
        (a.hash, 2, 3),
    ]
    assert [t.unpacked_length for t in plan.terms] == [1500, 6300, 700]
    first = plan.terms[0]
    assert (first.byte_start, first.byte_end) == (a.chunks[1].byte_start, a.chunks[1].byte_end)
    assert (plan.terms[1].byte_start, plan.terms[1].byte_end) == (0, b.serialized_size)


def test_whole_file_plan_matches_the_terms(world):
    size = len(world["data"])
    plan = plan_reconstruction(world["terms"], _chunks(world), 0, size - 1)
    assert plan.offset_into_first_range == 0
    assert [(t.chunk_start, t.chunk_end, t.unpacked_length) for t in plan.terms] == [
        (t.chunk_start, t.chunk_end, t.unpacked_bytes) for t in world["terms"]
    ]


def test_reads_only_the_needed_byte_ranges(world):
    world["reads"].clear()
    b = list(world["infos"].values())[1]
    plan = plan_reconstruction(world["terms"], _chunks(world), 3000, 3010)  # inside b's first chunk
    assert b"".join(iter_reconstruction(plan, world["read_range"])) == world["data"][3000:3011]
    assert world["reads"] == [(b.hash, 0, b.chunks[0].byte_end)]


def test_start_past_the_end_is_not_satisfiable(world):
    size = len(world["data"])
    with pytest.raises(RangeNotSatisfiable):
        plan_reconstruction(world["terms"], _chunks(world), size, size + 10)
    with pytest.raises(RangeNotSatisfiable):
        plan_reconstruction([], _chunks(world), 0, 0)


def test_reconstruction_detects_a_short_or_wrong_read(world):
    plan = plan_reconstruction(world["terms"], _chunks(world), 0, len(world["data"]) - 1)

    def truncated(xorb_hash, start, end):
        yield from world["read_range"](xorb_hash, start, end - 1)

    with pytest.raises(XetFormatError, match="truncated chunk payload"):
        b"".join(iter_reconstruction(plan, truncated))

    def missing_last_chunk(xorb_hash, start, end):
        chunks = world["infos"][xorb_hash].chunks
        last_start = next(c.byte_start for c in chunks if c.byte_end == end)
        yield from world["read_range"](xorb_hash, start, last_start if last_start > start else end)

    with pytest.raises(XetFormatError, match="expected"):
        b"".join(iter_reconstruction(plan, missing_last_chunk))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-99", (0, 99)),
        ("bytes=10-20", (10, 20)),
        ("bytes=10-5000", (10, 999)),  # end clamped
        ("bytes=999-999", (999, 999)),
        ("bytes=990-", (990, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=-5000", (0, 999)),
        ("BYTES = 1 - 2", (1, 2)),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-1000", "bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_parse_range_not_satisfiable(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


@pytest.mark.parametrize("header", ["bytes=5-1", "bytes=-", "items=0-1", "bytes=0-1,5-6", "bytes=a-b"])
def test_parse_range_rejects_malformed(header):
    with pytest.raises(XetFormatError) as exc:
        parse_range(header, 1000)
    assert not isinstance(exc.value, RangeNotSatisfiable)
