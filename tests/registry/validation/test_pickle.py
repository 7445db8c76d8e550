"""Pickle checkpoints: every malicious sample is built from opcodes and only ever decoded, never loaded."""

from __future__ import annotations

import io
import pickle
import pickletools
import struct
import zipfile

import pytest

from registry.validation import ALLOWED_GLOBALS, Limits, validate_bytes
from registry.validation.pickle_format import scan_one_pickle
from registry.validation.types import DEFAULT_LIMITS

from .corpus import (
    DUP,
    EMPTY_DICT,
    MARK,
    MEMOIZE,
    OBJ,
    POP,
    POP_MARK,
    PROTO2,
    PROTO4,
    REDUCE,
    STACK_GLOBAL,
    STOP,
    TUPLE1,
    bu,
    call,
    get,
    glob,
    inst,
    legacy_torch_pickle,
    put,
    stack_global,
    su,
    torch_state_dict_pickle,
    torch_zip,
    zip_of,
)


def _run(callable_ops: bytes, arg: str = "echo pwned", proto: bytes = PROTO2) -> bytes:
    return proto + callable_ops + su(arg) + TUPLE1 + REDUCE + STOP


def _assert_well_formed(data: bytes) -> None:
    pickletools.dis(data, out=io.StringIO())  # decodes and checks stack/memo discipline; executes nothing


MALICIOUS = [
    ("GLOBAL os.system", _run(glob("os", "system")), "os.system"),
    ("GLOBAL posix.system", _run(glob("posix", "system")), "posix.system"),
    ("GLOBAL nt.system", _run(glob("nt", "system")), "nt.system"),
    ("GLOBAL builtins.eval", _run(glob("builtins", "eval"), "1+1"), "builtins.eval"),
    ("GLOBAL builtins.exec", _run(glob("builtins", "exec"), "pass"), "builtins.exec"),
    ("GLOBAL __builtin__.eval (py2 name)", _run(glob("__builtin__", "eval"), "1"), "__builtin__.eval"),
    ("GLOBAL builtins.getattr", _run(glob("builtins", "getattr")), "builtins.getattr"),
    ("GLOBAL subprocess.Popen", _run(glob("subprocess", "Popen")), "subprocess.Popen"),
    ("GLOBAL runpy._run_code", _run(glob("runpy", "_run_code")), "runpy._run_code"),
    ("GLOBAL webbrowser.open", _run(glob("webbrowser", "open"), "http://x"), "webbrowser.open"),
    ("STACK_GLOBAL os.system", _run(stack_global("os", "system"), proto=PROTO4), "os.system"),
    ("STACK_GLOBAL posix.system", _run(stack_global("posix", "system"), proto=PROTO4), "posix.system"),
    (
        "STACK_GLOBAL builtins.eval",
        _run(stack_global("builtins", "eval"), "1", proto=PROTO4),
        "builtins.eval",
    ),
    (
        "STACK_GLOBAL subprocess.Popen",
        _run(stack_global("subprocess", "Popen"), proto=PROTO4),
        "subprocess.Popen",
    ),
    (
        "STACK_GLOBAL runpy._run_code",
        _run(stack_global("runpy", "_run_code"), proto=PROTO4),
        "runpy._run_code",
    ),
    (
        "STACK_GLOBAL webbrowser.open",
        _run(stack_global("webbrowser", "open"), proto=PROTO4),
        "webbrowser.open",
    ),
    (
        "dotted name through an allowed module",
        _run(stack_global("torch", "_utils.__builtins__.eval"), "1", proto=PROTO4),
        "torch._utils.__builtins__.eval",
    ),
    (
        "allowed-looking module split differently",
        _run(glob("torch", "_utils._rebuild_tensor_v2")),
        "torch._utils._rebuild_tensor_v2",
    ),
    (
        "memo evasion: strings stored, popped, fetched back",
        PROTO4
        + su("os")
        + put(1)
        + POP
        + su("system")
        + put(2)
        + POP
        + get(1)
        + get(2)
        + STACK_GLOBAL
        + su("id")
        + TUPLE1
        + REDUCE
        + STOP,
        "os.system",
    ),
    (
        "memo evasion: MEMOIZE indices",
        PROTO4
        + su("junk")
        + MEMOIZE
        + POP
        + su("nt")
        + MEMOIZE
        + POP
        + su("system")
        + MEMOIZE
        + POP
        + b"h\x01"
        + b"h\x02"
        + STACK_GLOBAL
        + su("id")
        + TUPLE1
        + REDUCE
        + STOP,
        "nt.system",
    ),
    (
        "lookback evasion: decoy strings discarded with POP_MARK",
        PROTO4
        + su("os")
        + su("system")
        + MARK
        + su("torch")
        + su("Size")
        + POP_MARK
        + STACK_GLOBAL
        + su("id")
        + TUPLE1
        + REDUCE
        + STOP,
        "os.system",
    ),
    (
        "lookback evasion: DUP and POP",
        PROTO4
        + su("subprocess")
        + su("Popen")
        + DUP
        + POP
        + STACK_GLOBAL
        + su("id")
        + TUPLE1
        + REDUCE
        + STOP,
        "subprocess.Popen",
    ),
    ("INST os.system", PROTO2 + MARK + su("id") + inst("os", "system") + STOP, "os.system"),
    (
        "OBJ with a disallowed class",
        PROTO2 + MARK + glob("os", "system") + su("id") + OBJ + STOP,
        "os.system",
    ),
    (
        "disallowed global hidden in a state dict",
        PROTO2 + EMPTY_DICT + bu("w") + _run(glob("os", "system"))[2:-1] + b"s" + STOP,
        "os.system",
    ),
    (
        "protocol 0 text pickle",
        b"cos\nsystem\n(S'echo pwned'\ntR.",
        "os.system",
    ),
]


@pytest.mark.parametrize(
    ("data", "global_name"), [(d, g) for _, d, g in MALICIOUS], ids=[n for n, _, _ in MALICIOUS]
)
@pytest.mark.parametrize("path", ["pytorch_model.bin", "model.pt", "x.pkl", "innocent.txt"])
def test_refuses_disallowed_globals(data, global_name, path):
    _assert_well_formed(data)

    report = validate_bytes(data, path=path)

    assert report.status == "failed"
    assert report.summary["format"] == "pickle"
    assert f"disallowed global {global_name}" in [c.message for c in report.failures], report.checks


@pytest.mark.parametrize(
    ("data", "global_name"), [(d, g) for _, d, g in MALICIOUS[:16]], ids=[n for n, _, _ in MALICIOUS[:16]]
)
def test_picklescan_agrees_on_the_plain_cases(data, global_name):
    pytest.importorskip("picklescan")

    report = validate_bytes(data, path="model.bin")

    assert f"picklescan flags global {global_name}" in [c.message for c in report.failures]


UNRESOLVABLE = [
    (
        "module name produced by a call",
        PROTO4 + call(glob("torch", "Size")) + put(0) + POP + get(0) + su("system") + STACK_GLOBAL + STOP,
        "STACK_GLOBAL",
    ),
    ("module name given as bytes", PROTO4 + b"C\x02os" + su("system") + STACK_GLOBAL + STOP, "STACK_GLOBAL"),
    ("extension registry", PROTO2 + b"\x82\x01" + STOP, "EXT1"),
    (
        "string too long to track",
        PROTO4 + bu("o" * 5000) + su("system") + STACK_GLOBAL + STOP,
        "STACK_GLOBAL",
    ),
]


@pytest.mark.parametrize(
    ("data", "site"), [(d, s) for _, d, s in UNRESOLVABLE], ids=[n for n, _, _ in UNRESOLVABLE]
)
def test_refuses_globals_that_cannot_be_named_statically(data, site):
    report = validate_bytes(data, path="model.bin")

    assert report.status == "failed"
    assert any(site in c.message and "cannot be resolved statically" in c.message for c in report.failures)


MALFORMED = [
    ("truncated, no STOP", torch_state_dict_pickle()[:-1], "STOP"),
    ("cut in the middle of an opcode", torch_state_dict_pickle()[:40], "not a valid pickle"),
    ("unknown opcode", PROTO2 + b"\xff" + STOP, "not a valid pickle"),
    ("stack underflow", PROTO2 + REDUCE + STOP, "stack underflow"),
    ("memo entry never stored", PROTO2 + get(7) + STOP, "never stored"),
    ("pop to a missing mark", PROTO2 + b"t" + STOP, "MARK"),
    ("protocol 9", b"\x80\x09N.", "protocol 9"),
    ("trailing garbage after STOP", PROTO2 + b"N." + b"garbage!", "data after pickle #1"),
    ("text that is not a pickle", b"hello, this is not a pickle at all", "not a valid pickle"),
]


@pytest.mark.parametrize(
    ("data", "reason"), [(d, r) for _, d, r in MALFORMED], ids=[n for n, _, _ in MALFORMED]
)
def test_refuses_pickles_that_do_not_parse(data, reason):
    report = validate_bytes(data, path="model.pt")

    assert report.status == "failed"
    assert any(reason in c.message for c in report.failures), report.checks


def test_scans_every_pickle_in_the_file():
    data = PROTO2 + b"N." + _run(glob("os", "system"))

    report = validate_bytes(data, path="model.bin")

    assert "disallowed global os.system" in [c.message for c in report.failures]


def test_accepts_a_torch_state_dict_pickle():
    data = torch_state_dict_pickle()
    _assert_well_formed(data)

    report = validate_bytes(data, path="pytorch_model.bin")

    assert report.status == "passed", report.checks
    assert set(report.summary["globals"]) == {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch.FloatStorage",
        "torch.HalfStorage",
        "torch.bfloat16",
        "torch.Size",
    }
    assert report.summary["persistent_ids"] == 2


def test_accepts_the_legacy_torch_format_with_raw_storages_after_the_pickles():
    report = validate_bytes(legacy_torch_pickle(), path="pytorch_model.bin")

    assert report.status == "passed", report.checks
    assert report.summary["legacy_torch"] is True


def test_legacy_storage_bytes_are_not_read_as_pickles():
    lookalike = b"\x63os\nsystem\n" + bytes(20)  # raw float data that happens to spell a GLOBAL

    report = validate_bytes(legacy_torch_pickle(storages=lookalike), path="pytorch_model.bin")

    assert report.status == "passed", report.checks


def test_refuses_a_legacy_file_whose_object_pickle_is_malicious():
    report = validate_bytes(legacy_torch_pickle(main=_run(glob("os", "system"))), path="pytorch_model.bin")

    assert "disallowed global os.system" in [c.message for c in report.failures]


def test_accepts_plain_data_pickles_of_every_protocol():
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps({"a": [1, 2.5, "x", b"y", (None, True)], "b": {"c": set()}}, protocol=protocol)

        report = validate_bytes(data, path="state.pkl")

        assert report.status == "passed", (protocol, report.checks)


def test_py2_names_map_onto_the_allow_list():
    data = PROTO2 + call(glob("__builtin__", "set")) + STOP

    report = validate_bytes(data, path="x.pkl")

    assert report.status == "passed", report.checks


def test_allow_list_is_explicit_and_has_no_dangerous_modules():
    modules = {module for module, _ in ALLOWED_GLOBALS}

    assert modules <= {"collections", "torch", "torch._utils", "torch._tensor", "torch.nn.parameter",
                       "torch.storage", "torch.cuda", "builtins", "_codecs"}  # fmt: skip
    assert ("builtins", "getattr") not in ALLOWED_GLOBALS
    assert ("builtins", "eval") not in ALLOWED_GLOBALS


def test_large_payloads_are_skipped_not_read():
    payload = 20 * 1024 * 1024
    data = PROTO4 + b"\x8e" + struct.pack("<Q", payload) + bytes(payload) + STOP

    scan = scan_one_pickle(io.BytesIO(data), DEFAULT_LIMITS)

    assert scan.opcodes == 3


# -- PyTorch zip archives -----------------------------------------------------------------------------------


def test_accepts_a_torch_zip_archive():
    report = validate_bytes(torch_zip(), path="model.pt")

    assert report.status == "passed", report.checks
    assert report.summary["format"] == "pytorch_zip"
    assert report.summary["pickles"] == ["archive/data.pkl"]


def test_accepts_a_deflated_torch_zip_archive():
    members = {"archive/data.pkl": torch_state_dict_pickle(), "archive/data/0": bytes(24)}

    report = validate_bytes(zip_of(members, method=zipfile.ZIP_DEFLATED), path="model.pt")

    assert report.status == "passed", report.checks


def _dup_zip() -> bytes:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it is asked to write
        return zip_of(
            [
                ("archive/data.pkl", torch_state_dict_pickle()),
                ("archive/data.pkl", _run(glob("os", "system"))),
            ]
        )


def _patched(data: bytes, old: bytes, new: bytes, count: int = 1) -> bytes:
    assert len(old) == len(new) and old in data
    return data.replace(old, new, count)


def _flag_encrypted(data: bytes) -> bytes:
    out = bytearray(data)
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = out.find(sig)
        while pos != -1:
            out[pos + flag_at] |= 0x01
            pos = out.find(sig, pos + 4)
    return bytes(out)


def _overlapping() -> bytes:
    data = bytearray(zip_of({"archive/data.pkl": torch_state_dict_pickle(), "archive/data/0": bytes(24)}))
    central = data.find(b"PK\x01\x02")
    second = data.find(b"PK\x01\x02", central + 4)
    struct.pack_into("<L", data, second + 42, 0)  # point the second entry at the first member's header
    return bytes(data)


ZIP_BAD = [
    ("malicious data.pkl", torch_zip(_run(glob("os", "system"))), "disallowed global os.system"),
    (
        "STACK_GLOBAL in data.pkl",
        torch_zip(_run(stack_global("posix", "system"), proto=PROTO4)),
        "posix.system",
    ),
    ("duplicated member names", _dup_zip(), "appears 2 times"),
    ("duplicate hides a malicious pickle", _dup_zip(), "disallowed global os.system"),
    ("zip-slip '..'", torch_zip(extra={"archive/../../evil.pkl": PROTO2 + b"N."}), "'..' path component"),
    ("absolute member name", torch_zip(extra={"/etc/cron.d/x": b"x"}), "absolute path"),
    ("windows drive name", torch_zip(extra={"C:/x": b"x"}), "absolute path"),
    ("encrypted flag", _flag_encrypted(torch_zip()), "is encrypted"),
    (
        "bzip2 member",
        zip_of({"archive/data.pkl": torch_state_dict_pickle()}, method=zipfile.ZIP_BZIP2),
        "bzip2",
    ),
    ("lzma member", zip_of({"archive/data.pkl": torch_state_dict_pickle()}, method=zipfile.ZIP_LZMA), "lzma"),
    (
        "local header name differs",
        _patched(torch_zip(), b"archive/data.pkl", b"archive/datx.pkl"),
        "local header differs from the central directory (name",
    ),
    ("overlapping members", _overlapping(), "overlap"),
    ("no data.pkl", zip_of({"weights/a.npy": b"x"}), "no data.pkl"),
    (
        "two data.pkl",
        zip_of({"a/data.pkl": PROTO2 + b"N.", "b/data.pkl": PROTO2 + b"N."}),
        "more than one data.pkl",
    ),
    ("data.pkl not a pickle", torch_zip(b"not a pickle"), "does not parse"),
    ("truncated archive", torch_zip()[:-30], "not a readable zip"),
]


@pytest.mark.parametrize(("data", "reason"), [(d, r) for _, d, r in ZIP_BAD], ids=[n for n, _, _ in ZIP_BAD])
def test_refuses_bad_torch_archives(data, reason):
    report = validate_bytes(data, path="model.pt")

    assert report.status == "failed"
    assert any(reason in c.message for c in report.failures), report.checks


def test_detects_a_zip_named_bin_and_a_pickle_named_ckpt():
    assert validate_bytes(torch_zip(), path="x.bin").summary["format"] == "pytorch_zip"
    assert validate_bytes(torch_state_dict_pickle(), path="x.ckpt").summary["format"] == "pickle"


def test_nothing_is_ever_unpickled(tmp_path, monkeypatch):
    canary = tmp_path / "canary"
    # builtins.open(canary, "w"): harmless if it ever ran, and it would leave the file behind
    data = PROTO2 + call(glob("builtins", "open"), bu(str(canary)), bu("w")) + STOP
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, _forbidden)

    for path in ("x.pkl", "model.pt", "pytorch_model.bin"):
        assert validate_bytes(data, path=path).status == "failed"
    assert validate_bytes(torch_zip(data), path="model.pt").status == "failed"
    assert not canary.exists()


def _forbidden(*args, **kwargs):
    raise AssertionError("the validator must never unpickle")


def test_allow_list_entries_are_not_renamed_by_python2_mappings():
    import _compat_pickle

    assert not {module for module, _ in ALLOWED_GLOBALS} & set(_compat_pickle.IMPORT_MAPPING)
    assert not ALLOWED_GLOBALS & set(_compat_pickle.NAME_MAPPING)


def test_tracked_strings_are_bounded_and_untracked_ones_fail_closed():
    data = _run(stack_global("os", "system"), proto=PROTO4)

    report = validate_bytes(data, path="x.pkl", limits=Limits(max_pickle_strings_total=0))

    assert any("cannot be resolved statically" in c.message for c in report.failures)


def test_picklescan_is_skipped_with_a_warning_for_huge_pickles():
    pytest.importorskip("picklescan")

    report = validate_bytes(torch_state_dict_pickle(), path="x.bin", limits=Limits(max_picklescan_opcodes=5))

    assert report.status == "warning"
    assert any("picklescan skipped" in c.message for c in report.checks)


def test_refuses_a_forged_member_count_before_reading_the_directory():
    data = bytearray(torch_zip())
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd + 8, 0xFFFE, 0xFFFE)

    report = validate_bytes(bytes(data), path="model.pt", limits=Limits(max_zip_members=1000))

    assert report.status == "failed"
    assert "65534 members exceed the limit of 1000" in report.failures[0].message


def test_member_limit_applies_to_real_archives():
    report = validate_bytes(torch_zip(), path="model.pt", limits=Limits(max_zip_members=3))

    assert "6 members exceed the limit of 3" in report.failures[0].message


def test_accepts_zip64_local_headers():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (("archive/data.pkl", torch_state_dict_pickle()), ("archive/data/0", bytes(24))):
            with archive.open(name, "w", force_zip64=True) as member:
                member.write(data)

    report = validate_bytes(buffer.getvalue(), path="model.pt")

    assert report.status == "passed", report.checks


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.data += b
        return len(b)


def test_accepts_members_with_data_descriptors():
    sink = _Unseekable()
    with zipfile.ZipFile(sink, "w") as archive:  # an unseekable target makes zipfile use data descriptors
        archive.writestr("archive/data.pkl", torch_state_dict_pickle())
        archive.writestr("archive/data/0", bytes(24))
    assert zipfile.ZipFile(io.BytesIO(bytes(sink.data))).infolist()[0].flag_bits & 0x08

    report = validate_bytes(bytes(sink.data), path="model.pt")

    assert report.status == "passed", report.checks
