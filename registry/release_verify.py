"""Check a downloaded snapshot against a release manifest and its signature (no database, no network).

Used by `manage.py verify_release`; README's "Verifying a release" shows the same steps with only `cryptography`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from registry import signing


@dataclass
class VerifyReport:
    signature_ok: bool
    problems: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return self.signature_ok and not self.problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_snapshot(*, manifest: bytes, signature_b64: str, public_pem: bytes, directory: Path,
                    allow_extra: bool = False) -> VerifyReport:
    """Signature first (an unsigned or altered manifest proves nothing), then every listed file's size and
    sha256; files the manifest doesn't list are reported too (the client's cache folders are ignored)."""
    report = VerifyReport(signature_ok=signing.verify(manifest, signature_b64, public_pem))
    if not report.signature_ok:
        report.problems.append("the manifest's signature is not valid for this public key: the manifest was "
                               "altered or signed by another key")
        return report
    data = json.loads(manifest)
    root = directory.resolve()
    listed = set()
    for entry in data.get("files", []):
        rel = entry["path"]
        listed.add(rel)
        target = (root / rel).resolve()
        if not target.is_relative_to(root):
            report.problems.append(f"{rel}: path leaves the snapshot directory")
            continue
        if not target.is_file():
            report.problems.append(f"{rel}: missing")
            continue
        size = target.stat().st_size
        if size != entry["size"]:
            report.problems.append(f"{rel}: size {size} differs from the manifest's {entry['size']}")
            continue
        digest = _sha256(target)
        if digest != entry["sha256"]:
            report.problems.append(f"{rel}: sha256 {digest} differs from the manifest's {entry['sha256']}")
            continue
        report.checked += 1
    if not allow_extra:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            if rel.startswith(".cache/") or rel in listed:
                continue
            report.problems.append(f"{rel}: not part of the release")
    return report
