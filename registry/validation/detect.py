"""Recognise a file's format by its content first and its name second.

Content wins because names lie: a pickle called `.bin`, a zip called `.pt`, safetensors under any name. The
name only decides when the content says nothing definite, and `name_mismatch` fails a file whose strict
format extension (.safetensors, .gguf) disagrees with its content.
"""

from __future__ import annotations

import codecs
import posixpath

from registry.validation.pickle_format import TORCH_EXTENSIONS, sniff_pickle
from registry.validation.types import DEFAULT_LIMITS, Limits

SAFETENSORS = "safetensors"
PYTORCH_ZIP = "pytorch_zip"
PICKLE = "pickle"
GGUF = "gguf"
JSON = "json"
TEXT = "text"
UNKNOWN = "unknown"
EMPTY = "empty"

FORMATS = (SAFETENSORS, PYTORCH_ZIP, PICKLE, GGUF, JSON, TEXT, UNKNOWN, EMPTY)

_BY_EXTENSION = {".safetensors": SAFETENSORS, ".gguf": GGUF, ".json": JSON} | {
    ext: PICKLE for ext in TORCH_EXTENSIONS - {".bin"}
}
_STRICT_EXTENSIONS = {".safetensors": SAFETENSORS, ".gguf": GGUF}


def extension(path: str) -> str:
    return posixpath.splitext(path.lower())[1]


def _looks_like_safetensors(first: bytes) -> bool:
    # 8-byte little-endian length whose top byte is 0 (text never is), then the header's opening brace
    return (
        len(first) >= 10 and first[7] == 0 and first[8:9] == b"{" and int.from_bytes(first[:8], "little") >= 2
    )


def _looks_like_text(first: bytes) -> bool:
    if not first or b"\x00" in first:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(first, final=False)  # a multi-byte character cut at the sample's end is fine
    except UnicodeDecodeError:
        return False
    return True


def detect_format(first_bytes: bytes, path: str, *, limits: Limits = DEFAULT_LIMITS) -> str:
    """One of FORMATS, from a file's first bytes (`Limits.sniff_size` of them, or the whole file)."""
    if _looks_like_safetensors(first_bytes):
        return SAFETENSORS
    if first_bytes.startswith(b"GGUF"):
        return GGUF
    if first_bytes.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return PYTORCH_ZIP
    if len(first_bytes) >= 2 and first_bytes[0] == 0x80 and 2 <= first_bytes[1] <= 5:
        return PICKLE  # PROTO opcode, protocols 2-5
    if sniff_pickle(first_bytes, limits):
        return PICKLE
    by_name = _BY_EXTENSION.get(extension(path))
    if by_name:
        return by_name
    if not first_bytes:
        return EMPTY
    if _looks_like_text(first_bytes):
        return TEXT
    return UNKNOWN


def name_mismatch(fmt: str, path: str) -> str | None:
    """Why the content contradicts a strict extension, or None."""
    expected = _STRICT_EXTENSIONS.get(extension(path))
    if expected and expected != fmt:
        return f"the name says {expected} but the content is {fmt}"
    return None
