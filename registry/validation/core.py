"""The entry points: one pass over a file's bytes gives its sha256, its size and a format verdict.

Every input ends in a `FileReport`; bad content is a "failed" verdict, never an exception. The one exception
that escapes is `StreamReadError`, raised when the chunk iterator itself fails (storage or network): that says
nothing about the file, so the caller should retry rather than record a verdict.
"""

from __future__ import annotations

import codecs
import hmac
import logging
from collections.abc import Callable, Iterable
from typing import Any

from registry.validation import detect
from registry.validation.gguf_format import check_gguf
from registry.validation.pickle_format import check_pickle_family
from registry.validation.safetensors_format import check_safetensors
from registry.validation.stream import Source, file_chunks
from registry.validation.strict_json import JsonInvalid, loads_strict
from registry.validation.types import (
    DEFAULT_LIMITS,
    FAILED,
    PASSED,
    WARNING,
    CheckResult,
    FileReport,
    FormatResult,
    Invalid,
    Limits,
    StreamReadError,
    StreamTooLarge,
    TensorInfo,
    worst,
)

logger = logging.getLogger(__name__)

Checker = Callable[..., FormatResult]


def _check_json(src: Source, *, path: str, limits: Limits) -> FormatResult:
    result = FormatResult()
    data = src.read(limits.max_json_size + 1)
    if len(data) > limits.max_json_size:
        src.drain()
        result.add("json", WARNING, f"larger than {limits.max_json_size} bytes; not parsed")
        return result
    try:
        loads_strict(data, max_depth=max(limits.max_json_depth, 64))
    except JsonInvalid as exc:
        raise Invalid("json", str(exc)) from exc
    result.add("json", PASSED, "valid JSON")
    return result


def _check_text(src: Source, *, path: str, limits: Limits) -> FormatResult:
    result = FormatResult()
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while block := src.read(1024 * 1024):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        src.drain()
        result.add("text", WARNING, "not valid UTF-8 throughout")
        return result
    result.add("text", PASSED, "UTF-8 text")
    return result


def _check_unknown(src: Source, *, path: str, limits: Limits) -> FormatResult:
    result = FormatResult()
    result.add("format", WARNING, "format not recognised; content not validated")
    return result


def _check_empty(src: Source, *, path: str, limits: Limits) -> FormatResult:
    result = FormatResult()
    result.add("format", PASSED, "empty file")
    return result


_CHECKERS: dict[str, Checker] = {
    detect.SAFETENSORS: check_safetensors,
    detect.GGUF: check_gguf,
    detect.PYTORCH_ZIP: lambda src, **kw: check_pickle_family(src, is_zip=True, **kw),
    detect.PICKLE: lambda src, **kw: check_pickle_family(src, is_zip=False, **kw),
    detect.JSON: _check_json,
    detect.TEXT: _check_text,
    detect.UNKNOWN: _check_unknown,
    detect.EMPTY: _check_empty,
}


def _integrity(sha256: str, size: int, expected_sha256: str | None, expected_size: int | None) -> CheckResult:
    problems = []
    if expected_size is not None and size != expected_size:
        problems.append(f"size is {size} bytes, expected {expected_size}")
    if expected_sha256 is not None and not hmac.compare_digest(
        sha256.encode(), expected_sha256.lower().encode()
    ):
        problems.append(f"sha256 is {sha256}, expected {expected_sha256}")
    if problems:
        return CheckResult("integrity", FAILED, "; ".join(problems))
    if expected_sha256 is None and expected_size is None:
        return CheckResult("integrity", PASSED, "no expected digest or size given")
    return CheckResult("integrity", PASSED, "sha256 and size match")


def validate_stream(
    chunks: Iterable[bytes],
    *,
    path: str,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    max_size: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> FileReport:
    """Hash and validate a file fed as chunks (an S3 streaming body, a local file), in one pass.

    `path` is the file's path in the repository; its extension is a hint, the content decides.
    """
    if max_size is not None and expected_size is not None and expected_size > max_size:
        return FileReport(
            sha256=None,
            size=0,
            status=FAILED,
            checks=[
                CheckResult(
                    "size", FAILED, f"file of {expected_size} bytes exceeds the maximum of {max_size}"
                )
            ],
            summary={},
        )
    src = Source(chunks, max_size=max_size)
    checks: list[CheckResult] = []
    summary: dict[str, Any] = {}
    tensors: list[TensorInfo] | None = None
    try:
        fmt = detect.detect_format(src.peek(limits.sniff_size), path, limits=limits)
        summary["format"] = fmt
        mismatch = detect.name_mismatch(fmt, path)
        if mismatch:
            checks.append(CheckResult("format", FAILED, mismatch))
        try:
            result = _CHECKERS[fmt](src, path=path, limits=limits)
            checks.extend(result.checks)
            summary.update(result.summary)
            tensors = result.tensors
        except Invalid as exc:
            checks.append(CheckResult(exc.check, FAILED, exc.message))
        except (StreamTooLarge, StreamReadError):
            raise
        except RecursionError as exc:
            checks.append(CheckResult(fmt, FAILED, f"structure nested too deeply to validate: {exc}"))
        except Exception as exc:  # the verdict must not depend on the validator being bug-free
            logger.exception("validator error on %s", path)
            checks.append(CheckResult(fmt, FAILED, f"validator error: {type(exc).__name__}: {exc}"))
        src.drain()
    except StreamTooLarge as exc:
        return FileReport(
            sha256=None,
            size=src.size,
            status=FAILED,
            checks=[CheckResult("size", FAILED, str(exc))],
            summary=summary,
        )
    sha256 = src.hexdigest()
    checks.insert(0, _integrity(sha256, src.size, expected_sha256, expected_size))
    return FileReport(
        sha256=sha256,
        size=src.size,
        status=worst([check.status for check in checks]),
        checks=checks,
        summary=summary,
        tensors=tensors,
    )


def validate_file(
    path_on_disk: str,
    *,
    path: str | None = None,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    max_size: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> FileReport:
    """`validate_stream` over a local file; `path` (the repository path) defaults to the file's own."""
    return validate_stream(
        file_chunks(path_on_disk),
        path=path or path_on_disk,
        expected_sha256=expected_sha256,
        expected_size=expected_size,
        max_size=max_size,
        limits=limits,
    )


def validate_bytes(data: bytes, *, path: str, limits: Limits = DEFAULT_LIMITS, **kwargs: Any) -> FileReport:
    """`validate_stream` over bytes already in memory (small files, tests)."""
    return validate_stream([data], path=path, limits=limits, **kwargs)
