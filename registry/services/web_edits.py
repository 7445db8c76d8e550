"""Commits made in the browser: saving the model card, and uploading small files through a form.

Both end in commit_create on a branch, with the revision the page showed as the expected parent, so two
people editing at once get a readable conflict instead of one silently overwriting the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.conf import settings
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import InvalidInput, TooLarge
from registry.models import Commit, ModelRepo
from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, AddInline, Operation, commit_create, normalize_path
from registry.services.uploads import upload_mode_decide

SAMPLE_BYTES = 512


@dataclass(frozen=True)
class UploadedFile:
    path: str
    size: int
    stream: BinaryIO  # positioned at the start; read in chunks, never whole


def card_save(*, actor: Any, repo: ModelRepo, content: str, branch: str, parent_oid: str | None, title: str,
              message: str = "", path: str = "README.md", ip: str | None = None) -> Commit:
    """Commit a new model card (or another small text file) on top of `parent_oid`."""
    data = content.replace("\r\n", "\n").encode("utf-8")
    if len(data) > settings.INLINE_FILE_MAX_SIZE:
        raise TooLarge(gettext("%(path)s: the text is larger than %(INLINE_FILE_MAX_SIZE)s bytes")
            % {"path": path, "INLINE_FILE_MAX_SIZE": settings.INLINE_FILE_MAX_SIZE})
    return commit_create(actor=actor, repo=repo, operations=[AddInline(path, data)],
                         title=title or f"Update {path}", message=message, branch=branch,
                         parent_oid=parent_oid or None, ip=ip)


def commit_upload_files(*, actor: Any, repo: ModelRepo, files: Sequence[UploadedFile], branch: str,
                        parent_oid: str | None, title: str, message: str = "", ip: str | None = None) -> Commit:
    """One commit holding every uploaded file: small text files inline, the rest through the blob store.

    Nothing is stored before the permission and path checks pass. Blobs stored for a commit that then fails
    (a stale parent) are unreferenced and left to the storage GC.
    """
    permissions.require_write_repo(actor, repo)
    if not files:
        raise InvalidInput(gettext("choose at least one file"))
    limit = settings.PORTAL_UPLOAD_MAX_BYTES
    paths: set[str] = set()
    for item in files:
        path = normalize_path(item.path)
        if path in paths:
            raise InvalidInput(gettext("%(path)s is uploaded twice") % {"path": path})
        paths.add(path)
        if item.size > limit:
            raise TooLarge(gettext("%(path)s is larger than %(limit)s bytes; upload it with the hf CLI")
                % {"path": path, "limit": limit})
    operations: list[Operation] = []
    for item in files:
        path = normalize_path(item.path)
        sample = item.stream.read(SAMPLE_BYTES)
        item.stream.seek(0)
        if upload_mode_decide(path=path, size=item.size, sample=sample) == "regular":
            content = item.stream.read(settings.INLINE_FILE_MAX_SIZE + 1)
            operations.append(AddInline(path, content))
        else:
            blob = blob_ingest_stream(stream=item.stream, repo=repo, actor=actor)  # the repo may use its bytes
            operations.append(AddBlob(path, blob.sha256, blob.size))
    count = len(operations)
    default_title = f"Upload {operations[0].path}" if count == 1 else f"Upload {count} files"
    return commit_create(actor=actor, repo=repo, operations=operations, title=title or default_title,
                         message=message, branch=branch, parent_oid=parent_oid or None, ip=ip)
