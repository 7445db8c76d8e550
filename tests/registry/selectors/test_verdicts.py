"""One rule for verdicts: what securityStatus quarantines is exactly what file listings and /resolve refuse."""

from __future__ import annotations

import hashlib

import pytest

from registry.hashing import git_blob_sha1
from registry.models import CommitFile, ContentVerdict
from registry.selectors.security import security_status
from registry.selectors.validation import file_quarantine, quarantine_attach, with_quarantine
from registry.services.commits import AddInline, commit_create

pytestmark = pytest.mark.django_db

FILES = {"bad.py": b"import os\n", "odd.json": b"{}\n", "fine.md": b"# ok\n", "unseen.txt": b"new\n"}


def _verdict(content: bytes, status: str, reason: str) -> None:
    ContentVerdict.objects.create(sha256=hashlib.sha256(content).hexdigest(), git_oid=git_blob_sha1(content),
                                  size=len(content), status=status, reason=reason)


def test_security_status_and_quarantine_agree(personas, make_repo, django_assert_max_num_queries):
    repo = make_repo()
    commit = commit_create(actor=personas.member, repo=repo, title="files",
                           operations=[AddInline(p, c) for p, c in FILES.items()])
    _verdict(FILES["bad.py"], "failed", "pickle import")
    _verdict(FILES["odd.json"], "warning", "odd")
    _verdict(FILES["fine.md"], "passed", "")

    status = security_status(commit=commit)
    assert status["quarantinedFiles"] == ["bad.py"]
    assert {f["path"]: f["level"] for f in status["filesWithIssues"]} == {"bad.py": "unsafe", "odd.json": "suspicious"}
    assert (status["scannedFiles"], status["totalFiles"]) == (3, CommitFile.objects.filter(commit=commit).count())

    rows = list(CommitFile.objects.filter(commit=commit).select_related("blob").order_by("path"))
    with django_assert_max_num_queries(1):
        quarantine_attach(files=rows)
    attached = sorted(f.path for f in rows if file_quarantine(commit_file=f))
    annotated = sorted(f.path for f in with_quarantine(CommitFile.objects.filter(commit=commit).select_related("blob"))
                       if file_quarantine(commit_file=f))
    plain = sorted(f.path for f in CommitFile.objects.filter(commit=commit).select_related("blob")
                   if file_quarantine(commit_file=f))
    assert attached == annotated == plain == status["quarantinedFiles"]
