"""Format checkers for uploaded checkpoints: pure functions over a byte stream, no Django, no database.

Use `validate_stream` (or `validate_file`) per file, then `validate_safetensors_index` for sharded
checkpoints once every shard's report is in.
"""

from __future__ import annotations

from registry.validation.core import validate_bytes, validate_file, validate_stream
from registry.validation.detect import FORMATS, detect_format
from registry.validation.pickle_format import ALLOWED_GLOBALS
from registry.validation.safetensors_format import DTYPE_BITS
from registry.validation.sharded import validate_safetensors_index
from registry.validation.types import (
    DEFAULT_LIMITS,
    CheckResult,
    FileReport,
    Limits,
    StreamReadError,
    Verdict,
)

__all__ = [
    "ALLOWED_GLOBALS",
    "DEFAULT_LIMITS",
    "DTYPE_BITS",
    "FORMATS",
    "CheckResult",
    "FileReport",
    "Limits",
    "StreamReadError",
    "Verdict",
    "detect_format",
    "validate_bytes",
    "validate_file",
    "validate_safetensors_index",
    "validate_stream",
]
