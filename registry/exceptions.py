"""The domain's error vocabulary. The HF layer and the DRF handler map these to their wire formats."""

from __future__ import annotations


class HubError(Exception):
    """Base class. `code` is the stable machine-readable name (HF's X-Error-Code where one exists)."""

    code = "BadRequest"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status


class InvalidInput(HubError):
    code = "BadRequest"
    status = 400


class NotAuthenticated(HubError):
    code = "Unauthorized"
    status = 401


class PermissionDenied(HubError):
    code = "Forbidden"
    status = 403


class RepoNotFound(HubError):
    code = "RepoNotFound"
    status = 404


class RevisionNotFound(HubError):
    code = "RevisionNotFound"
    status = 404


class ReleaseNotFound(HubError):
    code = "ReleaseNotFound"
    status = 404


class WebhookNotFound(HubError):
    """No such webhook, or one the caller doesn't manage (the same answer either way)."""

    code = "WebhookNotFound"
    status = 404


class EntryNotFound(HubError):
    code = "EntryNotFound"
    status = 404


class GatedRepo(HubError):
    code = "GatedRepo"
    status = 403


class Conflict(HubError):
    code = "Conflict"
    status = 409


class StaleParent(Conflict):
    code = "ParentCommitMismatch"
    status = 412


class BlobMissing(HubError):
    code = "BlobMissing"
    status = 422


class Disabled(HubError):
    code = "Disabled"
    status = 403


class TooLarge(HubError):
    code = "TooLarge"
    status = 413


class DiscussionNotFound(HubError):
    code = "DiscussionNotFound"
    status = 404
