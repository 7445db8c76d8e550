"""Pickle-based checkpoints (.bin, .pt, .pth, .ckpt, .pkl, PyTorch zip archives), judged without unpickling.

Nothing here ever calls `pickle.load`. `pickletools.genops` decodes opcodes (it executes nothing) and a small
symbolic stack follows which strings reach STACK_GLOBAL, through the memo too, so every global the pickle
would import is known statically or the file fails. Globals are then held against an allow-list of what a
weights-only PyTorch state dict needs (after torch's `_weights_only_unpickler`); anything else fails the file.
"""

from __future__ import annotations

import _compat_pickle
import io
import logging
import os
import pickletools
import re
import struct
import zipfile
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import IO, Any

from registry.validation.stream import Source
from registry.validation.types import FAILED, PASSED, WARNING, FormatResult, Invalid, Limits

logger = logging.getLogger(__name__)

CHECK_PICKLE = "pickle"
CHECK_ZIP = "zip"
CHECK_PICKLESCAN = "picklescan"

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PICKLES = 5  # magic, protocol version, sys info, the object, storage keys; raw storages follow

_STORAGES = "Double Float Half BFloat16 Long Int Short Char Byte Bool ComplexDouble ComplexFloat".split()
_QSTORAGES = "QUInt8 QInt8 QInt32 QUInt4x2 QUInt2x4".split()
_TENSORS = "Double Float Half BFloat16 Long Int Short Char Byte Bool".split()
_DTYPES = (
    (
        "float32 float64 float16 bfloat16 complex32 complex64 complex128 bool uint8 int8 int16 int32 int64 "
        "uint16 uint32 uint64 qint8 quint8 qint32 quint4x2 quint2x4 "
        "float8_e4m3fn float8_e5m2 float8_e4m3fnuz "
        "float8_e5m2fnuz float8_e8m0fnu float4_e2m1fn_x2 bits1x8 bits2x4 bits4x2 bits8 bits16"
    ).split()
    + [f"int{n}" for n in range(1, 8)]
    + [f"uint{n}" for n in range(1, 8)]
)
_QSCHEMES = (
    "per_tensor_affine per_tensor_symmetric per_channel_affine per_channel_symmetric "
    "per_channel_affine_float_qparams"
).split()

# (module, name) exactly as GLOBAL/STACK_GLOBAL name them. Dotted names are not split or joined: pickle
# resolves "torch" + "_utils.x" through getattr, so only the canonical spelling is accepted.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_tensor_v3"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"),
        ("torch._utils", "_rebuild_qtensor"),
        ("torch._tensor", "_rebuild_from_type_v2"),
        ("torch.nn.parameter", "Parameter"),
        ("torch", "Tensor"),
        ("torch", "Size"),
        ("torch", "device"),
        ("torch", "UntypedStorage"),
        ("torch", "TypedStorage"),
        ("torch.storage", "UntypedStorage"),
        ("torch.storage", "TypedStorage"),
        ("builtins", "set"),
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("_codecs", "encode"),  # protocol 2 spells bytes as _codecs.encode(str, "latin1")
    }
    | {("torch", f"{kind}Storage") for kind in _STORAGES + _QSTORAGES}
    | {("torch.cuda", f"{kind}Storage") for kind in _STORAGES}
    | {("torch", f"{kind}Tensor") for kind in _TENSORS}
    | {("torch.cuda", f"{kind}Tensor") for kind in _TENSORS}
    | {("torch", dtype) for dtype in _DTYPES}
    | {("torch", scheme) for scheme in _QSCHEMES}
)


def is_allowed(module: str, name: str) -> bool:
    """Exact allow-list match, also under the Python 2 names pickle maps for protocols < 3."""
    if (module, name) in ALLOWED_GLOBALS:
        return True
    mapped = _compat_pickle.NAME_MAPPING.get((module, name))
    if mapped is None and module in _compat_pickle.IMPORT_MAPPING:
        mapped = (_compat_pickle.IMPORT_MAPPING[module], name)
    return mapped is not None and mapped in ALLOWED_GLOBALS


# -- reading pickles with bounded memory --------------------------------------------------------------------


class _Skipped(bytes):
    """Stands in for a payload too large to hold: genops only checks its length."""

    def __new__(cls, length: int) -> _Skipped:
        obj = super().__new__(cls, b"")
        obj._length = length
        return obj

    def __len__(self) -> int:
        return self._length


class _BoundedReader:
    """The file-like genops reads from: big payloads are skipped on disk, lines are length-bounded, and
    nothing past `end` (an absolute offset, when given) is visible."""

    def __init__(self, raw: IO[bytes], *, max_read: int, end: int | None = None) -> None:
        self._raw = raw
        self._max_read = max_read
        self._end = end
        self.skipped = False  # set when a payload was skipped; reset by the scanner per opcode

    def _clip(self, n: int) -> int:
        return n if self._end is None else max(0, min(n, self._end - self._raw.tell()))

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = self._max_read
        want = self._clip(n)
        if want <= self._max_read:
            return self._raw.read(want)
        self.skipped = True
        remaining = want
        while remaining:
            block = self._raw.read(min(remaining, 1024 * 1024))
            if not block:
                break
            remaining -= len(block)
        return _Skipped(want - remaining)

    def readline(self, limit: int = -1) -> bytes:
        bound = self._max_read if limit < 0 else min(limit, self._max_read)
        return self._raw.readline(self._clip(bound))

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)


# -- symbolic execution of one pickle -----------------------------------------------------------------------

_MARK = object()
_UNKNOWN = None  # any value that is not a short, known string
_STRING_OPS = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"}
)
_INT_OPS = frozenset({"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_EXT_OPS = frozenset({"EXT1", "EXT2", "EXT4"})


class PickleMalformed(Exception):
    pass


_MAX_RECORDED = 10_000  # distinct globals a scan keeps; weights need about ten
_NAME_SHOWN = 256


@dataclass
class PickleScan:
    seen: dict[str, None] = field(default_factory=dict)  # every global, in order of first use
    refused: dict[str, None] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)  # STACK_GLOBAL / EXT sites that cannot be named
    opcodes: int = 0
    persistent_ids: int = 0
    int_value: int | None = None  # set when the pickle is just one integer (torch's legacy magic)

    @property
    def globals(self) -> list[str]:
        return list(self.seen)

    @property
    def disallowed(self) -> list[str]:
        return list(self.refused)

    def merge(self, other: PickleScan) -> None:
        self.seen.update(other.seen)
        self.refused.update(other.refused)
        self.unresolved.extend(other.unresolved[: max(0, 100 - len(self.unresolved))])
        self.opcodes += other.opcodes
        self.persistent_ids += other.persistent_ids


def _pop_to_mark(stack: list[Any]) -> int:
    """Pop down to and including the topmost MARK; returns how many items lay above it."""
    count = 0
    while stack:
        if stack.pop() is _MARK:
            return count
        count += 1
    raise PickleMalformed("MARK expected on the stack")


def _pop_any(stack: list[Any]) -> Any:
    if not stack or stack[-1] is _MARK:
        raise PickleMalformed("stack underflow")
    return stack.pop()


def _record_global(scan: PickleScan, module: str, name: str) -> None:
    full = f"{module}.{name}"[:_NAME_SHOWN]
    if full not in scan.seen and len(scan.seen) >= _MAX_RECORDED:
        raise PickleMalformed(f"more than {_MAX_RECORDED} distinct globals")
    scan.seen[full] = None
    if not is_allowed(module, name):
        scan.refused[full] = None


def scan_one_pickle(raw: IO[bytes], limits: Limits) -> PickleScan:
    """Walk one pickle (to its STOP) without executing it. Raises PickleMalformed if it does not parse."""
    reader = _BoundedReader(raw, max_read=limits.max_pickle_read)
    scan = PickleScan()
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    first: list[tuple[str, Any]] = []
    last = ""
    string_budget = limits.max_pickle_strings_total
    try:
        for opcode, arg, pos in pickletools.genops(reader):
            skipped, reader.skipped = reader.skipped, False
            scan.opcodes += 1
            op = last = opcode.name
            if len(first) < 4:
                first.append((op, arg))
            if op == "PROTO":
                if not isinstance(arg, int) or arg > 5:
                    raise PickleMalformed(f"unsupported pickle protocol {arg}")
            elif op in _STRING_OPS:
                known = isinstance(arg, str) and not skipped and len(arg) <= limits.max_pickle_string
                if known and string_budget >= len(arg):
                    string_budget -= len(arg)
                    stack.append(arg)
                else:
                    stack.append(_UNKNOWN)  # only ever makes a STACK_GLOBAL unresolvable, i.e. fail
            elif op in _PUT_OPS:
                if not stack or stack[-1] is _MARK:
                    raise PickleMalformed(f"{op} with an empty stack")
                if not isinstance(arg, int) or arg < 0:
                    raise PickleMalformed(f"bad {op} index {arg!r}")
                memo[arg] = stack[-1]
            elif op == "MEMOIZE":
                if not stack or stack[-1] is _MARK:
                    raise PickleMalformed("MEMOIZE with an empty stack")
                memo[len(memo)] = stack[-1]
            elif op in _GET_OPS:
                if arg not in memo:
                    raise PickleMalformed(f"{op} of memo entry {arg!r} that was never stored")
                stack.append(memo[arg])
            elif op == "DUP":
                if not stack or stack[-1] is _MARK:
                    raise PickleMalformed("DUP with an empty stack")
                stack.append(stack[-1])
            elif op == "POP":
                if not stack:
                    raise PickleMalformed("POP with an empty stack")
                stack.pop()  # pickle's POP also discards a bare MARK
            elif op in ("GLOBAL", "INST"):
                module, _, name = str(arg).partition(" ")
                _record_global(scan, module, name)
                if op == "INST":
                    _pop_to_mark(stack)
                stack.append(_UNKNOWN)
            elif op == "STACK_GLOBAL":
                name_value, module_value = _pop_any(stack), _pop_any(stack)
                if isinstance(module_value, str) and isinstance(name_value, str):
                    _record_global(scan, module_value, name_value)
                else:
                    if len(scan.unresolved) < 100:
                        scan.unresolved.append(f"STACK_GLOBAL at byte {pos}")
                stack.append(_UNKNOWN)
            elif op in _EXT_OPS:
                if len(scan.unresolved) < 100:
                    scan.unresolved.append(f"{op} (extension registry) at byte {pos}")
                stack.append(_UNKNOWN)
            else:
                if op in ("PERSID", "BINPERSID"):
                    scan.persistent_ids += 1
                _apply_generic(opcode, stack)
            if len(memo) > limits.max_pickle_memo:
                raise PickleMalformed(f"more than {limits.max_pickle_memo} memo entries")
            if len(stack) > limits.max_pickle_stack:
                raise PickleMalformed(f"stack deeper than {limits.max_pickle_stack}")
    except PickleMalformed:
        raise
    except (
        ValueError,
        TypeError,
        OverflowError,
        EOFError,
        IndexError,
        KeyError,
        AssertionError,
        struct.error,
    ) as exc:
        raise PickleMalformed(str(exc) or type(exc).__name__) from exc
    if last != "STOP":
        raise PickleMalformed("pickle ended before STOP")
    body = [entry for entry in first if entry[0] != "PROTO"]
    if len(body) == 2 and body[0][0] in _INT_OPS and isinstance(body[0][1], int):
        scan.int_value = body[0][1]
    return scan


def _apply_generic(opcode: pickletools.OpcodeInfo, stack: list[Any]) -> None:
    before = opcode.stack_before
    if pickletools.markobject in before:
        # [below..., markobject, above..., stackslice]: `above` and the slice are popped with the mark
        at = before.index(pickletools.markobject)
        needed = sum(1 for kind in before[at + 1 :] if kind is not pickletools.stackslice)
        if _pop_to_mark(stack) < needed:
            raise PickleMalformed(f"{opcode.name} needs {needed} items after MARK")
        plain = at
    else:
        plain = len(before)
    for _ in range(plain):
        _pop_any(stack)
    for kind in opcode.stack_after:
        stack.append(_MARK if kind is pickletools.markobject else _UNKNOWN)


def _at_end(raw: IO[bytes]) -> bool:
    here = raw.tell()
    more = raw.read(1)
    raw.seek(here)
    return not more


def scan_pickle_stream(raw: IO[bytes], limits: Limits) -> tuple[PickleScan, bool, int]:
    """Every pickle in `raw`, back to back. Returns the merged scan, whether it is torch's legacy format, and
    the offset where the pickles end.

    Trailing bytes must parse as further pickles, except in the legacy torch format, where raw storage bytes
    follow the fifth pickle and are never unpickled by torch.
    """
    total = PickleScan()
    count = 0
    legacy = False
    while True:
        if count and _at_end(raw):
            break
        start = raw.tell()
        try:
            scan = scan_one_pickle(raw, limits)
        except PickleMalformed as exc:
            where = "" if count == 0 else f"data after pickle #{count} (byte {start}) "
            raise PickleMalformed(f"{where}does not parse as a pickle: {exc}") from exc
        count += 1
        total.merge(scan)
        if count == 1 and scan.int_value == TORCH_LEGACY_MAGIC:
            legacy = True
        if legacy and count == _LEGACY_PICKLES:
            break
    return total, legacy, raw.tell()


def _pickle_findings(result: FormatResult, scan: PickleScan, where: str) -> None:
    prefix = f"{where}: " if where else ""
    for name in scan.disallowed[:20]:
        result.add(CHECK_PICKLE, FAILED, f"{prefix}disallowed global {name}")
    if len(scan.disallowed) > 20:
        result.add(CHECK_PICKLE, FAILED, f"{prefix}{len(scan.disallowed) - 20} more disallowed globals")
    for site in scan.unresolved[:20]:
        result.add(CHECK_PICKLE, FAILED, f"{prefix}{site} cannot be resolved statically")


# -- zip archives -------------------------------------------------------------------------------------------

_LOCAL = struct.Struct("<4s5H3L2H")
_METHODS = {0: "stored", 8: "deflate", 9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstd", 99: "AES"}
_DRIVE = re.compile(r"^[A-Za-z]:")


def _name_problem(name: str) -> str | None:
    if not name:
        return "has an empty name"
    if "\x00" in name:
        return "has a NUL in its name"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "has an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "has a '..' path component"
    return None


def _zip64_sizes(extra: bytes, usize: int, csize: int) -> tuple[int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, pos)
        if kind == 1:
            body = extra[pos + 4 : pos + 4 + length]
            values = [struct.unpack_from("<Q", body, i)[0] for i in range(0, len(body) - 7, 8)]
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            break
        pos += 4 + length
    return usize, csize


def _check_zip_structure(
    handle: IO[bytes], archive: zipfile.ZipFile, result: FormatResult, limits: Limits
) -> None:
    infos = archive.infolist()
    if len(infos) > limits.max_zip_members:
        raise Invalid(CHECK_ZIP, f"{len(infos)} members exceed the limit of {limits.max_zip_members}")
    if not infos:
        raise Invalid(CHECK_ZIP, "zip archive has no members")

    def fail(message: str) -> None:
        result.add(CHECK_ZIP, FAILED, message)

    for name, count in Counter(info.orig_filename for info in infos).items():
        if count > 1:
            fail(f"member {name!r} appears {count} times")
    end = archive.start_dir
    spans: list[tuple[int, int, str]] = []
    for info in infos:
        name = info.orig_filename
        problem = _name_problem(name)
        if problem:
            fail(f"member {name!r} {problem}")
        if info.flag_bits & 0x41:
            fail(f"member {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            method = _METHODS.get(info.compress_type, "unknown")
            fail(
                f"member {name!r} uses compression method {info.compress_type} ({method}); "
                "only stored and deflate are allowed"
            )
        handle.seek(info.header_offset)
        local = handle.read(_LOCAL.size)
        if len(local) < _LOCAL.size:
            fail(f"member {name!r}: local header lies past the end of the file")
            continue
        sig, _ver, flags, method, _t, _d, crc, csize, usize, name_len, extra_len = _LOCAL.unpack(local)
        if sig != b"PK\x03\x04":
            fail(f"member {name!r}: no local header at offset {info.header_offset}")
            continue
        local_name = handle.read(name_len)
        extra = handle.read(extra_len)
        central_name = name.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
        mismatches = []
        if local_name != central_name:
            mismatches.append(f"name {local_name[:80]!r}")
        if method != info.compress_type:
            mismatches.append(f"compression method {method}")
        if (flags ^ info.flag_bits) & 0x849:
            mismatches.append(f"flags {flags:#x}")
        if not flags & 0x8:
            usize, csize = _zip64_sizes(extra, usize, csize)
            if crc != info.CRC:
                mismatches.append("CRC")
            if csize != info.compress_size or usize != info.file_size:
                mismatches.append(f"sizes {csize}/{usize} vs {info.compress_size}/{info.file_size}")
        if mismatches:
            fail(
                f"member {name!r}: local header differs from the central directory ({', '.join(mismatches)})"
            )
        data_start = info.header_offset + _LOCAL.size + name_len + extra_len
        data_end = data_start + info.compress_size
        if data_end > end:
            fail(f"member {name!r}: data runs into the central directory")
        spans.append((info.header_offset, data_end, name))
    spans.sort()
    if spans and spans[0][0] != 0:
        fail(f"{spans[0][0]} bytes of unknown data before the first member")
    for (_s1, end1, name1), (start2, _e2, name2) in zip(spans, spans[1:], strict=False):
        if start2 < end1:
            fail(f"members {name1!r} and {name2!r} overlap")


def _declared_entries(handle: IO[bytes]) -> int | None:
    """The member count the end-of-central-directory record declares (zip64 aware), read before zipfile
    builds its member list, so a forged count cannot make it allocate millions of entries."""
    size = handle.seek(0, os.SEEK_END)
    start = max(0, size - (22 + 65_535))
    handle.seek(start)
    tail = handle.read(size - start)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    entries = struct.unpack_from("<H", tail, at + 10)[0]
    if entries != 0xFFFF or at < 20 or tail[at - 20 : at - 16] != b"PK\x06\x07":
        return entries
    (offset,) = struct.unpack_from("<Q", tail, at - 12)
    handle.seek(offset)
    record = handle.read(56)
    if len(record) < 56 or record[:4] != b"PK\x06\x06":
        return None
    return struct.unpack_from("<Q", record, 32)[0]


def _check_zip(handle: IO[bytes], path: str, result: FormatResult, limits: Limits) -> PickleScan:
    declared = _declared_entries(handle)
    if declared is not None and declared > limits.max_zip_members:
        raise Invalid(CHECK_ZIP, f"{declared} members exceed the limit of {limits.max_zip_members}")
    handle.seek(0)
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise Invalid(CHECK_ZIP, f"not a readable zip archive: {exc}") from exc
    total = PickleScan()
    with archive:
        _check_zip_structure(handle, archive, result, limits)
        names = [info.orig_filename for info in archive.infolist()]
        data_pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
        result.summary["members"] = len(names)
        if len(data_pickles) == 1:
            root = data_pickles[0].rpartition("/")[0]
            outside = [n for n in names if root and not n.startswith(root + "/")]
            if outside:
                result.add(CHECK_ZIP, WARNING, f"members outside the archive folder {root!r}: {outside[:5]}")
            if any(n.startswith(f"{root}/code/") for n in names):
                result.add(CHECK_ZIP, WARNING, "TorchScript archive (has code/): not a plain state dict")
        elif len(data_pickles) > 1:
            result.add(CHECK_ZIP, FAILED, f"more than one data.pkl: {data_pickles[:5]}")
        elif os.path.splitext(path)[1].lower() in TORCH_EXTENSIONS:
            result.add(CHECK_ZIP, FAILED, "zip archive has no data.pkl: not a PyTorch checkpoint")
        else:
            result.add(CHECK_ZIP, WARNING, "zip archive without data.pkl: only its .pkl members were checked")
        pickles = [info for info in archive.infolist() if info.orig_filename.endswith(".pkl")]
        targets: list[_Target] = []
        result.summary["pickles"] = [info.orig_filename for info in pickles][:100]
        for info in pickles:
            if info.flag_bits & 0x41 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                continue  # already failed above; not readable as is
            try:
                with archive.open(info) as member:
                    scan, _legacy, _end = scan_pickle_stream(member, limits)
            except PickleMalformed as exc:
                result.add(CHECK_PICKLE, FAILED, f"{info.orig_filename}: {exc}")
                continue
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                result.add(CHECK_ZIP, FAILED, f"member {info.orig_filename!r} cannot be read: {exc}")
                continue
            _pickle_findings(result, scan, info.orig_filename)
            total.merge(scan)
            targets.append(
                _Target(
                    f"{path}:{info.orig_filename}", lambda info=info: archive.open(info), None, scan.opcodes
                )
            )
        _picklescan(targets, result, limits)
    return total


# -- picklescan, a second opinion ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    file_id: str
    open: Callable[[], AbstractContextManager[IO[bytes]]]
    end: int | None  # where the pickles stop (legacy torch files carry raw storages after them)
    opcodes: int  # from our own scan; picklescan keeps every opcode in a list, so this bounds its memory


def _picklescan(targets: list[_Target], result: FormatResult, limits: Limits) -> None:
    """Run picklescan (strict) over each pickle stream, through the same bounded reader as our own scan, so a
    huge payload cannot make it hold the file in memory. It only decodes opcodes; it never unpickles."""
    try:
        from picklescan import scanner
    except ImportError:
        result.summary["picklescan"] = "not installed"
        return
    flagged: set[str] = set()
    for target in targets:
        file_id = target.file_id
        if target.opcodes > limits.max_picklescan_opcodes:
            result.add(
                CHECK_PICKLESCAN,
                WARNING,
                f"picklescan skipped for {file_id}: {target.opcodes} opcodes "
                f"exceed {limits.max_picklescan_opcodes}",
            )
            continue
        try:
            with target.open() as stream:
                reader = _BoundedReader(stream, max_read=limits.max_pickle_read, end=target.end)
                report = scanner.scan_pickle_bytes(reader, file_id, strict=True)
        except Exception as exc:  # a third-party parser: its failures are a warning, never a crash
            result.add(
                CHECK_PICKLESCAN, WARNING, f"picklescan could not scan {file_id}: {type(exc).__name__}"
            )
            continue
        flagged.update(
            f"{g.module}.{g.name}"[:200]
            for g in report.globals
            if g.safety == scanner.SafetyLevel.Dangerous and not is_allowed(g.module, g.name)
        )
    result.summary["picklescan"] = "strict"
    for name in sorted(flagged)[:20]:
        result.add(CHECK_PICKLESCAN, FAILED, f"picklescan flags global {name}")
    if not flagged:
        result.add(CHECK_PICKLESCAN, PASSED, "picklescan (strict) found nothing outside the allow-list")


class _Unclosed:
    """The spooled file, rewound, in a `with` that leaves it open."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def __enter__(self) -> IO[bytes]:
        self._handle.seek(0)
        return self._handle

    def __exit__(self, *exc: object) -> None:
        return None


# -- entry point --------------------------------------------------------------------------------------------

TORCH_EXTENSIONS = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"})


def check_pickle_family(src: Source, *, path: str, limits: Limits, is_zip: bool) -> FormatResult:
    result = FormatResult()
    with src.spool(max_memory=limits.spool_memory) as handle:
        if is_zip:
            scan = _check_zip(handle, path, result, limits)
        else:
            try:
                scan, legacy, end = scan_pickle_stream(handle, limits)
            except PickleMalformed as exc:
                raise Invalid(CHECK_PICKLE, f"not a valid pickle: {exc}") from exc
            result.summary["legacy_torch"] = legacy
            _pickle_findings(result, scan, "")
            _picklescan([_Target(path, lambda: _Unclosed(handle), end, scan.opcodes)], result, limits)
        result.summary["globals"] = scan.globals[:200]
        result.summary["persistent_ids"] = scan.persistent_ids
    if not any(check.name in (CHECK_PICKLE, CHECK_ZIP) and check.status == FAILED for check in result.checks):
        result.add(CHECK_PICKLE, PASSED, f"{len(scan.globals)} globals, all on the weights-only allow-list")
    return result


class _SampleEnd(Exception):
    """The sniffed sample ran out: not an error in the pickle, which may go on past it."""


class _Sample(io.BytesIO):
    def read(self, n: int | None = -1) -> bytes:
        data = super().read(n)
        if n is not None and n >= 0 and len(data) < n:
            raise _SampleEnd
        return data

    def readline(self, limit: int | None = -1) -> bytes:
        line = super().readline(limit)
        if not line.endswith(b"\n"):
            raise _SampleEnd
        return line


def sniff_pickle(sample: bytes, limits: Limits) -> bool:
    """Whether `sample` (a file's first bytes) reads as a pickle: opcodes decode, the stack and memo stay
    consistent, and either a STOP is reached or the sample runs out after a plausible run of opcodes."""
    if not sample or sample[0:1] not in _PICKLE_STARTS:
        return False
    try:
        scan_one_pickle(_Sample(sample), limits)
    except _SampleEnd:
        return len(sample) >= 256
    except PickleMalformed:
        return False
    return True


_PICKLE_STARTS = {bytes([code]) for code in b"\x80(}])cNIJKLSVXUTG"}
