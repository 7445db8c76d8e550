"""One sequential pass over a file: each byte is hashed as it is pulled; checkers read from that pass.

Checkers pull bytes (`read`, `skip`, `drain`); those that need random access (zip, pickle) `spool` the rest of
the stream to a temporary file first. Only the current chunk and what a checker asked for are ever in memory.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

from registry.validation.types import StreamReadError, StreamTooLarge

_COPY_CHUNK = 1024 * 1024


class Source:
    def __init__(self, chunks: Iterable[bytes], *, max_size: int | None = None) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buf = b""
        self._off = 0
        self._eof = False
        self._max_size = max_size
        self._digest = hashlib.sha256()
        self.size = 0  # bytes pulled from the iterator so far
        self.position = 0  # bytes handed to the checker so far

    # -- pulling ---------------------------------------------------------------------------------------------

    def _pull(self) -> bytes | None:
        if self._eof:
            return None
        while True:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._eof = True
                return None
            except Exception as exc:
                raise StreamReadError(f"reading the stream failed: {type(exc).__name__}: {exc}") from exc
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise StreamReadError(f"stream yielded {type(chunk).__name__}, not bytes")
            if not chunk:
                continue
            chunk = bytes(chunk)
            self.size += len(chunk)
            if self._max_size is not None and self.size > self._max_size:
                raise StreamTooLarge(f"file exceeds the maximum size of {self._max_size} bytes")
            self._digest.update(chunk)
            return chunk

    def _available(self) -> int:
        return len(self._buf) - self._off

    def _refill(self) -> bool:
        chunk = self._pull()
        if chunk is None:
            return False
        self._buf, self._off = chunk, 0
        return True

    # -- reading ---------------------------------------------------------------------------------------------

    def peek(self, n: int) -> bytes:
        """Up to `n` bytes ahead without consuming them (fewer only at end of stream)."""
        if self._available() < n:
            parts = [self._buf[self._off :]]
            have = len(parts[0])
            while have < n and (chunk := self._pull()) is not None:
                parts.append(chunk)
                have += len(chunk)
            self._buf, self._off = b"".join(parts), 0
        return self._buf[self._off : self._off + n]

    def read(self, n: int) -> bytes:
        """Exactly `n` bytes, or fewer at end of stream. Callers bound `n` before asking."""
        parts: list[bytes] = []
        need = n
        while need > 0:
            if not self._available() and not self._refill():
                break
            take = min(need, self._available())
            parts.append(self._buf[self._off : self._off + take])
            self._off += take
            need -= take
        data = b"".join(parts)
        self.position += len(data)
        return data

    def skip(self, n: int) -> int:
        """Discard up to `n` bytes; returns how many were skipped."""
        need = n
        while need > 0:
            if not self._available() and not self._refill():
                break
            take = min(need, self._available())
            self._off += take
            need -= take
        self.position += n - need
        return n - need

    def drain(self) -> int:
        """Consume the rest of the stream; returns how many bytes that was."""
        skipped = self._available()
        self._buf, self._off = b"", 0
        while (chunk := self._pull()) is not None:
            skipped += len(chunk)
        self.position += skipped
        return skipped

    def spool(self, *, max_memory: int) -> IO[bytes]:
        """Copy the rest of the stream to a temporary file (on disk past `max_memory`), positioned at 0."""
        spooled: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=max_memory)  # the caller closes it
        try:
            if self._available():
                spooled.write(self._buf[self._off :])
                self.position += self._available()
            self._buf, self._off = b"", 0
            while (chunk := self._pull()) is not None:
                spooled.write(chunk)
                self.position += len(chunk)
            spooled.seek(0)
        except BaseException:
            spooled.close()
            raise
        return spooled

    @property
    def exhausted(self) -> bool:
        return self._eof and not self._available()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def file_chunks(path: str, *, chunk_size: int = _COPY_CHUNK) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk
