"""Writes static/icons/*.png from the same drawing as static/icons/favicon.svg (three stacked layers on the hub's
accent blue), with the standard library only: `python scripts/make_icons.py`."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

ACCENT = (11, 92, 173)
WHITE = (255, 255, 255)
# The SVG's 32x32 drawing: rounded background, three bars (x, y, w, h) in white.
BARS = [(7, 7, 18, 4), (7, 14, 18, 4), (7, 21, 18, 4)]


def _pixel(x: float, y: float) -> tuple[int, int, int, int]:
    r = 6.0
    cx = min(max(x, r), 32 - r)
    cy = min(max(y, r), 32 - r)
    if (x - cx) ** 2 + (y - cy) ** 2 > r * r:
        return (0, 0, 0, 0)
    for bx, by, bw, bh in BARS:
        if bx <= x < bx + bw and by <= y < by + bh:
            return (*WHITE, 255)
    return (*ACCENT, 255)


def png(size: int) -> bytes:
    rows = b""
    for j in range(size):
        row = bytearray([0])
        for i in range(size):
            row += bytes(_pixel((i + 0.5) * 32 / size, (j + 0.5) * 32 / size))
        rows += bytes(row)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "static" / "icons"
    for name, size in (("favicon-32.png", 32), ("apple-touch-icon.png", 180), ("icon-192.png", 192),
                       ("icon-512.png", 512)):
        (out / name).write_bytes(png(size))
