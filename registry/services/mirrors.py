"""Mirroring published releases to another Hugging Face-compatible hub (the public Hub, or another consortium hub).

The target's token is stored encrypted (Fernet; the key is MIRROR_ENCRYPTION_KEY, or derived from SECRET_KEY with
HKDF when unset). A push materialises the release's commit in a temporary folder (streamed from the blob store),
uploads it with the stock `huggingface_hub` client and tags it `v{version}` there. Pushes are idempotent: a done
push is never repeated, and re-running a failed one uploads the same tree again (the target makes no new commit
for identical files) and accepts an existing tag on the same commit.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import InvalidInput, PermissionDenied
from registry.models import CommitFile, MirrorTarget, ModelRepo, Release, ReleaseMirror
from registry.names import repo_id_ok
from registry.services.audit import audit_record
from registry.services.jobs import job_dispatch, job_enqueue
from registry.storage import get_store

logger = logging.getLogger(__name__)


class MirrorTransientError(Exception):
    """The target hub or the network failed in a way worth retrying."""


def _fernet() -> Fernet:
    secret = settings.MIRROR_ENCRYPTION_KEY or settings.SECRET_KEY
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"consortium-hub/mirror-token",
               info=b"fernet").derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def token_encrypt(token: str) -> str:
    return _fernet().encrypt(token.encode()).decode()


def token_decrypt(token_encrypted: str) -> str:
    try:
        return _fernet().decrypt(token_encrypted.encode()).decode()
    except InvalidToken as exc:
        raise InvalidInput(gettext(
            "the mirror token can't be decrypted (the encryption key changed?): set it again")) from exc


def mirror_target_set(*, actor: Any, repo: ModelRepo, endpoint: str, target_repo_id: str, token: str,
                      enabled: bool = True, ip: str | None = None) -> MirrorTarget:
    """Set (or replace) where the repo's releases are mirrored. Admins of the repo only."""
    if not (permissions.can_admin_repo(actor, repo) or getattr(actor, "is_superuser", False)):
        raise PermissionDenied(gettext("only admins of %(repo_id)s can set its mirror") % {"repo_id": repo.repo_id})
    endpoint = (endpoint or "").strip().rstrip("/")
    parsed = urlparse(endpoint)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise InvalidInput(gettext("the mirror endpoint must be an http(s) URL, e.g. https://huggingface.co"))
    if not repo_id_ok(target_repo_id):
        raise InvalidInput(gettext("the target repository must be namespace/name"))
    if not (token or "").strip():
        raise InvalidInput(gettext("a token with write access on the target hub is needed"))
    with transaction.atomic():
        target, _ = MirrorTarget.objects.update_or_create(repo=repo, defaults={
            "endpoint": endpoint, "target_repo_id": target_repo_id, "enabled": enabled,
            "token_encrypted": token_encrypt(token.strip()),
        })
        audit_record(actor=actor, action="mirror.set", target=repo, ip=ip,
                     metadata={"endpoint": endpoint, "target": target_repo_id, "enabled": enabled})
    return target


def mirror_enqueue(*, release: Release) -> list[ReleaseMirror]:
    """A push of the published release to the repo's mirror, if it has an enabled one."""
    target = MirrorTarget.objects.filter(repo_id=release.repo_id, enabled=True).first()
    if target is None or release.state != Release.State.PUBLISHED:
        return []
    with transaction.atomic():
        mirror, _ = ReleaseMirror.objects.get_or_create(release=release, target=target)
        if mirror.status != ReleaseMirror.Status.DONE:
            job_enqueue(task="registry.push_release_mirror", key=mirror.pk, send=lambda key: _queue(key))
    return [mirror]


def _queue(mirror_id: int) -> None:
    job_dispatch(task="registry.push_release_mirror", key=mirror_id)


def mirror_retry(*, actor: Any, mirror: ReleaseMirror) -> None:
    if not getattr(actor, "is_staff", False):
        raise PermissionDenied(gettext("only staff can retry mirror pushes"))
    if mirror.status == ReleaseMirror.Status.DONE:
        return
    ReleaseMirror.objects.filter(pk=mirror.pk).update(status=ReleaseMirror.Status.PENDING, error="")
    job_enqueue(task="registry.push_release_mirror", key=mirror.pk, send=lambda key: _queue(key))


@contextlib.contextmanager
def _snapshot(release: Release) -> Iterator[Path]:
    """The release commit's files in a temporary folder, streamed from the store (never whole in memory)."""
    store = get_store()
    with tempfile.TemporaryDirectory(prefix="hub-mirror-") as tmp:
        root = Path(tmp)
        for entry in CommitFile.objects.filter(commit=release.commit).select_related("blob").iterator():
            target = (root / entry.path).resolve()
            if not target.is_relative_to(root.resolve()):
                raise InvalidInput(gettext("refusing to write %(path)r outside the snapshot") % {"path": entry.path})
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                if entry.blob_id is None:
                    out.write(bytes(entry.content or b""))
                else:
                    for chunk in store.iter_bytes(entry.blob.storage_key):
                        out.write(chunk)
        yield root


@contextlib.contextmanager
def _lfs_uploads() -> Iterator[None]:
    """MIRROR_DISABLE_XET: push large files with the Git LFS protocol instead of Xet (hubs without Xet)."""
    from huggingface_hub import constants

    if not settings.MIRROR_DISABLE_XET:
        yield
        return
    before = constants.HF_HUB_DISABLE_XET
    constants.HF_HUB_DISABLE_XET = True
    try:
        yield
    finally:
        constants.HF_HUB_DISABLE_XET = before


def _push(release: Release, target: MirrorTarget) -> str:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=target.endpoint, token=token_decrypt(target.token_encrypted))
    tag = release.tag_name
    try:
        with _lfs_uploads(), _snapshot(release) as folder:
            api.create_repo(target.target_repo_id, exist_ok=True, private=False)
            info = api.upload_folder(repo_id=target.target_repo_id, folder_path=folder,
                                     commit_message=f"Release {release.version}: {release.title}",
                                     commit_description=f"Mirrored from {settings.SITE_URL}/{release.repo.repo_id} "
                                                        f"at {release.commit.oid}")
            remote = info.oid
            refs = api.list_repo_refs(target.target_repo_id)
            existing = {t.name: t.target_commit for t in refs.tags}
            if tag not in existing:
                api.create_tag(target.target_repo_id, tag=tag, revision=remote,
                               tag_message=f"Release {release.version}")
            elif existing[tag] != remote:
                raise InvalidInput(gettext("the target already has a tag %(tag)s on another commit (%(existing)s)")
                    % {"tag": tag, "existing": existing[tag]})
    except HfHubHTTPError as exc:
        status = getattr(exc.response, "status_code", 0) or 0
        if status >= 500 or status in (408, 429):
            raise MirrorTransientError(str(exc)) from exc
        raise
    except OSError as exc:  # connection refused/reset, DNS: worth retrying
        raise MirrorTransientError(str(exc)) from exc
    return remote


def mirror_push(*, mirror_id: int, final_attempt: bool = True) -> ReleaseMirror:
    """Push one release to its mirror. MirrorTransientError propagates (the task retries) unless final_attempt."""
    with transaction.atomic():
        mirror = (ReleaseMirror.objects.select_for_update(of=("self",))
                  .select_related("release__repo", "release__commit", "target").get(pk=mirror_id))
        if mirror.status == ReleaseMirror.Status.DONE:
            return mirror
        mirror.status, mirror.attempts, mirror.updated_at = ReleaseMirror.Status.RUNNING, mirror.attempts + 1, \
            timezone.now()
        mirror.save(update_fields=["status", "attempts", "updated_at"])
    try:
        remote = _push(mirror.release, mirror.target)
    except MirrorTransientError as exc:
        _finish(mirror, ReleaseMirror.Status.FAILED, error=f"{exc} (attempt {mirror.attempts})")
        if not final_attempt:
            raise
        return mirror
    except Exception as exc:  # noqa: BLE001 - any other failure is recorded on the push, visibly
        _finish(mirror, ReleaseMirror.Status.FAILED, error=str(exc) or exc.__class__.__name__)
        return mirror
    _finish(mirror, ReleaseMirror.Status.DONE, remote_commit=remote)
    audit_record(actor=None, action="release.mirror", target=mirror.release.repo,
                 metadata={"version": mirror.release.version, "endpoint": mirror.target.endpoint,
                           "target": mirror.target.target_repo_id, "remote_commit": remote})
    return mirror


def _finish(mirror: ReleaseMirror, status: str, *, error: str = "", remote_commit: str = "") -> None:
    mirror.status, mirror.error, mirror.updated_at = status, error[:2000], timezone.now()
    if remote_commit:
        mirror.remote_commit = remote_commit
    mirror.save(update_fields=["status", "error", "remote_commit", "updated_at"])
