"""Result types shared by every format checker.

Checkers report problems in two ways: a list of `CheckResult`s for findings that do not stop the
analysis (several disallowed globals, say), or by raising `Invalid` for the first structural fault
after which nothing else can be read safely. `validate_stream` turns both into a `FileReport`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["passed", "warning", "failed"]

PASSED: Verdict = "passed"
WARNING: Verdict = "warning"
FAILED: Verdict = "failed"

_RANK: dict[str, int] = {PASSED: 0, WARNING: 1, FAILED: 2}


def worst(statuses: list[str] | tuple[str, ...]) -> Verdict:
    """The most severe verdict; an empty list passes (nothing was found wrong)."""
    result: Verdict = PASSED
    for status in statuses:
        if _RANK[status] > _RANK[result]:
            result = status  # type: ignore[assignment]
    return result


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as a header describes it: what the repo checks and the tensor viewer need, never its bytes.

    `dtype` is the safetensors dtype (F32, BF16…) or the ggml type name (Q4_K…); `shape` is in the order the
    format stores it (GGUF's is innermost first: a token embedding is [hidden, vocab]).
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Verdict
    message: str


@dataclass
class FileReport:
    """The verdict for one file.

    `sha256` is None only when the stream was refused before it was read to the end (over `max_size`).
    `summary` is JSON-serialisable; for safetensors it carries `tensors` (name -> byte size), which is
    what `validate_safetensors_index` needs for sharded checkpoints.
    """

    sha256: str | None
    size: int
    status: Verdict
    checks: list[CheckResult]
    summary: dict[str, Any] = field(default_factory=dict)
    # The tensor table of a safetensors or GGUF file (sorted by name), or None: kept out of `as_dict` (a 10k-tensor
    # file's table is stored as rows, registry.models.ContentTensor, not in the JSON summary).
    tensors: list[TensorInfo] | None = None

    @property
    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if check.status == FAILED]

    def as_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "status": self.status,
            "checks": [{"name": c.name, "status": c.status, "message": c.message} for c in self.checks],
            "summary": self.summary,
        }


@dataclass(frozen=True)
class Limits:
    """Bounds applied before anything is allocated from numbers found in a file."""

    max_header_size: int = 100_000_000  # safetensors JSON header (the reference loader's own bound)
    max_json_depth: int = 16  # a safetensors header needs 3 levels; config files rarely more than 10
    max_tensors: int = 1_000_000
    max_rank: int = 64
    max_elements: int = 2**63 - 1  # a shape's element count must fit a signed 64-bit size
    sniff_size: int = 64 * 1024  # bytes looked at to recognise a format by content
    spool_memory: int = 1024 * 1024  # above this a spooled file goes to disk
    max_json_size: int = 64 * 1024 * 1024  # plain .json files parsed in full up to this size
    max_pickle_memo: int = 1_000_000
    max_pickle_stack: int = 1_000_000
    max_pickle_string: int = 256  # longer strings are tracked as "unknown", never as a global name
    max_pickle_strings_total: int = 16 * 1024 * 1024  # past this, strings are "unknown" too
    max_pickle_read: int = 8 * 1024 * 1024  # larger pickle payloads (bytes) are skipped on disk, not read
    max_picklescan_opcodes: int = 2_000_000  # picklescan holds every opcode in memory
    max_zip_members: int = 100_000
    max_gguf_header: int = 512 * 1024 * 1024
    max_gguf_string: int = 64 * 1024 * 1024
    max_gguf_array_depth: int = 4
    max_gguf_kv: int = 1_000_000
    max_gguf_tensors: int = 1_000_000


DEFAULT_LIMITS = Limits()


class Invalid(Exception):
    """A structural fault: the named check fails with `message` and the checker stops."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check
        self.message = message


class StreamTooLarge(Exception):
    """The stream passed `max_size`; reading stops at once."""


class StreamReadError(Exception):
    """The chunk iterator itself raised (network, storage): not a property of the file, so callers retry."""


@dataclass
class FormatResult:
    checks: list[CheckResult] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    tensors: list[TensorInfo] | None = None

    def add(self, name: str, status: Verdict, message: str) -> None:
        self.checks.append(CheckResult(name, status, message))
