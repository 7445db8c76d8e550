"""Discussion attachments (`upload_attachment` → `POST /uploads`, HF_COMMUNITY.md §6): an image, video or sound a
signed-in user embeds in a comment.

The type is sniffed from the first bytes (magic numbers) and is the only type the bytes are ever served as; anything
that is not one of the raster images, videos or sounds below — SVG, HTML, a script, a PDF, whatever the uploader
calls it — is refused, so an attachment is inert wherever it is shown (registry.user_content). The body is streamed
into the blob store in chunks (never whole in memory), counted and hashed on the way; a body past its limit (10 MB,
50 MB for a video) stops the write and leaves nothing behind. A user's attachments together stay under
ATTACHMENT_QUOTA_BYTES.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext

from registry.exceptions import InvalidInput, NotAuthenticated, PermissionDenied, TooLarge
from registry.models import ApiKey, Attachment
from registry.services.audit import audit_record
from registry.storage import get_store

logger = logging.getLogger(__name__)

MB = 1000 * 1000
IMAGE_MAX_BYTES = 10 * MB
VIDEO_MAX_BYTES = 50 * MB
SNIFF_BYTES = 16
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Kind:
    content_type: str
    extension: str
    max_bytes: int


PNG = Kind("image/png", ".png", IMAGE_MAX_BYTES)
JPEG = Kind("image/jpeg", ".jpg", IMAGE_MAX_BYTES)
GIF = Kind("image/gif", ".gif", IMAGE_MAX_BYTES)
WEBP = Kind("image/webp", ".webp", IMAGE_MAX_BYTES)
MP4 = Kind("video/mp4", ".mp4", VIDEO_MAX_BYTES)
MOV = Kind("video/quicktime", ".mov", VIDEO_MAX_BYTES)
WEBM = Kind("video/webm", ".webm", VIDEO_MAX_BYTES)
MP3 = Kind("audio/mpeg", ".mp3", IMAGE_MAX_BYTES)
WAV = Kind("audio/wav", ".wav", IMAGE_MAX_BYTES)
OGG = Kind("audio/ogg", ".ogg", IMAGE_MAX_BYTES)
KINDS = (PNG, JPEG, GIF, WEBP, MP4, MOV, WEBM, MP3, WAV, OGG)
ACCEPTED = "PNG, JPEG, GIF, WebP, MP4, MOV, WebM, MP3, WAV, Ogg"


def sniff(head: bytes) -> Kind | None:
    """The kind the first bytes announce, or None: only magic numbers count, never a name or a declared type."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[4:8] == b"ftyp":
        return MOV if head[8:12] == b"qt  " else MP4
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return WEBM
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"ID3") or _mp3_frame(head):
        return MP3
    return None


def _mp3_frame(head: bytes) -> bool:
    """An MPEG audio layer III frame header (sync, layer III, a real bitrate and rate): a UTF-16 byte-order mark
    (FF FE) or other text is not one."""
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE6 != 0xE2:
        return False
    return head[2] >> 4 not in (0, 15) and (head[2] >> 2) & 3 != 3


class _Counted:
    """The rest of the body, after the sniffed head: read in chunks, counted, hashed, stopped past `limit`."""

    def __init__(self, head: bytes, stream: BinaryIO, limit: int) -> None:
        self.pending, self.stream, self.limit = head, stream, limit
        self.size = 0
        self.digest = hashlib.sha256()

    def read(self, amount: int = -1) -> bytes:
        if self.pending:
            data, self.pending = self.pending, b""
        else:
            data = self.stream.read(CHUNK if amount is None or amount < 0 else min(amount, CHUNK))
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge(gettext("an attachment of this type may be at most %(mb)d MB") % {
                "mb": self.limit // MB})
        self.digest.update(data)
        return data


def _read_head(stream: BinaryIO) -> bytes:
    head = b""
    while len(head) < SNIFF_BYTES:
        chunk = stream.read(SNIFF_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


def attachment_quota_used(*, user: Any) -> int:
    return Attachment.objects.filter(uploader=user).aggregate(total=Sum("size"))["total"] or 0


def attachment_upload(*, user: Any, stream: BinaryIO, length: int | None,
                      api_key: ApiKey | None = None) -> Attachment:
    """Store one attachment from `stream` (`length`: the declared Content-Length, when there is one)."""
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticated(gettext("sign in to upload an attachment"))
    if api_key is not None and not api_key.has_scope("write"):
        raise PermissionDenied(gettext("this API key is read-only: uploading an attachment needs the write scope"))
    if length is not None and length > VIDEO_MAX_BYTES:
        raise TooLarge(gettext("an attachment may be at most %(mb)d MB") % {"mb": VIDEO_MAX_BYTES // MB})
    head = _read_head(stream)
    if not head:
        raise InvalidInput(gettext("the attachment is empty"))
    kind = sniff(head)
    if kind is None:
        raise InvalidInput(gettext("not an image, video or sound this hub takes (%(kinds)s)") % {"kinds": ACCEPTED})
    if length is not None and length > kind.max_bytes:
        raise TooLarge(gettext("an attachment of this type may be at most %(mb)d MB") % {"mb": kind.max_bytes // MB})
    quota = settings.ATTACHMENT_QUOTA_BYTES
    if attachment_quota_used(user=user) + (length or len(head)) > quota:
        raise TooLarge(gettext("your attachments use up your quota of %(mb)d MB: no more can be uploaded") % {
            "mb": quota // MB})
    attachment = Attachment(uploader=user, content_type=kind.content_type, extension=kind.extension, size=0,
                            sha256="")
    attachment.storage_key = f"attachments/{attachment.uid[:2]}/{attachment.uid}"
    body = _Counted(head, stream, kind.max_bytes)
    store = get_store()
    try:
        store.put_stream(attachment.storage_key, body)  # type: ignore[arg-type]
    except BaseException:
        _forget(attachment.storage_key)
        raise
    attachment.size, attachment.sha256 = body.size, body.digest.hexdigest()
    try:
        attachment.save()
    except BaseException:
        _forget(attachment.storage_key)
        raise
    return attachment


def attachment_delete(*, actor: Any, attachment: Attachment, ip: str | None = None) -> None:
    """Moderation (the admin): the row and an AuditEvent now, the bytes once that is committed; the URL is a 404."""
    with transaction.atomic():
        audit_record(actor=actor, action="attachment.delete", target=attachment, target_label=attachment.filename,
                     metadata={"uploader": attachment.uploader_id, "type": attachment.content_type,
                               "size": attachment.size, "sha256": attachment.sha256}, ip=ip)
        key = attachment.storage_key
        attachment.delete()
        transaction.on_commit(lambda: _forget(key))


def _forget(key: str) -> None:
    try:
        get_store().delete(key)
    except Exception:  # noqa: BLE001 - best effort: an orphan object costs bytes, not correctness
        logger.warning("could not delete the refused attachment %s", key, exc_info=True)
