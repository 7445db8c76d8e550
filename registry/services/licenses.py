"""License acceptance for gated repos: a record per user, repo and license version."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import InvalidInput, NotAuthenticated, PermissionDenied, RepoNotFound
from registry.licenses_common import COMMON_LICENSES, license_text
from registry.models import License, LicenseAcceptance, ModelRepo
from registry.services.audit import audit_record


def _check_answers(repo: ModelRepo, answers: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(answers, dict):
        raise InvalidInput(gettext("answers must be an object"))
    cleaned: dict[str, Any] = {}
    for question in repo.gating_fields or []:
        value = answers.get(question["name"])
        if question.get("type") == "checkbox":
            value = bool(value)
            if question.get("required") and not value:
                raise InvalidInput(gettext("%(question)s: this box must be ticked") % {"question": question['label']})
        else:
            value = str(value or "").strip()[:1000]
            if question.get("required") and not value:
                raise InvalidInput(gettext("%(question)s: this field is required") % {"question": question['label']})
        cleaned[question["name"]] = value
    return cleaned


def license_accept(*, user: Any, repo: ModelRepo, answers: dict[str, Any] | None = None,
                   ip: str | None = None) -> LicenseAcceptance:
    """Accept the repo's current license. Auto gating approves at once; manual leaves it pending.

    Accepting again after a decision keeps the decision (a rejected user can't re-approve themselves).
    """
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticated(gettext("Sign in to accept the license"))
    if not permissions.can_read_repo(user, repo):
        raise RepoNotFound(gettext("Repository not found"))
    if not repo.is_gated:
        raise InvalidInput(gettext("this model is not gated; no license acceptance is needed"))
    cleaned = _check_answers(repo, answers or {})
    version = repo.license.version if repo.license_id else 0
    status = (LicenseAcceptance.Status.ACCEPTED if repo.gating == ModelRepo.Gating.AUTO
              else LicenseAcceptance.Status.PENDING)
    with transaction.atomic():
        acceptance, created = LicenseAcceptance.objects.select_for_update().get_or_create(
            user=user, repo=repo, license_version=version,
            defaults={"license": repo.license, "status": status, "answers": cleaned, "ip": ip,
                      "decided_at": timezone.now() if status == LicenseAcceptance.Status.ACCEPTED else None},
        )
        if created:
            audit_record(actor=user, action="license.accept", target=repo, ip=ip,
                         metadata={"license_version": version, "status": status})
    return acceptance


def license_decide(*, actor: Any, acceptance: LicenseAcceptance, approve: bool, rejection_reason: str = "",
                   ip: str | None = None) -> LicenseAcceptance:
    """A manager of the repo's access requests (write or admin member, staff) approves or rejects a request; a
    rejection may say why (the requester reads it on the model page)."""
    status = LicenseAcceptance.Status.ACCEPTED if approve else LicenseAcceptance.Status.REJECTED
    return access_request_set_status(actor=actor, acceptance=acceptance, status=status,
                                     rejection_reason=rejection_reason, ip=ip)


REJECTION_REASON_MAX = 200  # characters, as the Hub allows
_STATUS_ACTIONS = {LicenseAcceptance.Status.ACCEPTED: "license.approve",
                   LicenseAcceptance.Status.REJECTED: "license.reject",
                   LicenseAcceptance.Status.PENDING: "license.cancel"}


def access_request_set_status(*, actor: Any, acceptance: LicenseAcceptance, status: str,
                              rejection_reason: str = "", ip: str | None = None) -> LicenseAcceptance:
    """Move an access request to `status` (accepted, rejected, or back to pending: a cancelled decision), as the
    portal's queue and the HF API's `user-access-request/handle` do. The org's write and admin members (or staff,
    or a user repo's owner); one AuditEvent per change (license.approve / license.reject / license.cancel)."""
    if not permissions.can_manage_access_requests(actor, acceptance.repo):
        raise PermissionDenied(gettext(
            "only members of the model's organisation with the write or admin role can decide access requests"))
    if status not in _STATUS_ACTIONS:
        raise InvalidInput(gettext("status must be one of: accepted, rejected, pending"))
    reason = " ".join(str(rejection_reason or "").split())
    if reason and status != LicenseAcceptance.Status.REJECTED:
        raise InvalidInput(gettext("a rejection reason can only be given when rejecting a request"))
    if len(reason) > REJECTION_REASON_MAX:
        raise InvalidInput(gettext("the rejection reason is longer than %(REJECTION_REASON_MAX)s characters")
            % {"REJECTION_REASON_MAX": REJECTION_REASON_MAX})
    pending = status == LicenseAcceptance.Status.PENDING
    with transaction.atomic():
        acceptance.status = status
        acceptance.decided_at = None if pending else timezone.now()
        acceptance.decided_by = None if pending else actor
        acceptance.rejection_reason = reason  # "" unless rejecting: a later decision clears an old reason
        acceptance.save(update_fields=["status", "decided_at", "decided_by", "rejection_reason"])
        metadata: dict[str, Any] = {"user": acceptance.user.get_username(),
                                    "license_version": acceptance.license_version}
        if reason:
            metadata["rejection_reason"] = reason
        audit_record(actor=actor, action=_STATUS_ACTIONS[status], target=acceptance.repo, ip=ip, metadata=metadata)
    return acceptance


def access_grant(*, actor: Any, repo: ModelRepo, user: Any, ip: str | None = None) -> LicenseAcceptance:
    """A manager of the repo's access requests lets `user` download a gated repo without a request of theirs: an
    accepted record for the current license version (a pending or rejected one turns accepted). InvalidInput when
    the user already has access."""
    if not permissions.can_manage_access_requests(actor, repo):
        raise PermissionDenied(gettext(
            "only members of the model's organisation with the write or admin role can grant access"))
    if not repo.is_gated:
        raise InvalidInput(gettext("this model is not gated: everyone who can see it can download it"))
    version = repo.license.version if repo.license_id else 0
    now = timezone.now()
    with transaction.atomic():
        acceptance, created = LicenseAcceptance.objects.select_for_update().get_or_create(
            user=user, repo=repo, license_version=version,
            defaults={"license": repo.license, "status": LicenseAcceptance.Status.ACCEPTED, "answers": {},
                      "decided_at": now, "decided_by": actor},
        )
        if not created:
            if acceptance.status == LicenseAcceptance.Status.ACCEPTED:
                raise InvalidInput(gettext("%(username)s already has access to this model")
                    % {"username": user.get_username()})
            acceptance.status = LicenseAcceptance.Status.ACCEPTED
            acceptance.decided_at = now
            acceptance.decided_by = actor
            acceptance.rejection_reason = ""
            acceptance.save(update_fields=["status", "decided_at", "decided_by", "rejection_reason"])
        audit_record(actor=actor, action="license.grant", target=repo, ip=ip,
                     metadata={"user": user.get_username(), "license_version": version})
    return acceptance


def license_update_text(*, actor: Any, license: License, text: str, ip: str | None = None) -> License:
    """Change a license's text; the version goes up, so every gated user must accept again."""
    if not getattr(actor, "is_staff", False):
        raise PermissionDenied(gettext("only staff can change license texts"))
    if text == license.text:
        return license
    with transaction.atomic():
        license.text = text
        license.version += 1
        license.updated_at = timezone.now()
        license.save(update_fields=["text", "version", "updated_at"])
        audit_record(actor=actor, action="license.update", target=license, ip=ip,
                     metadata={"version": license.version})
    return license


def known_license(slug: str) -> License | None:
    """The License row for an SPDX id the hub knows: an admin's row, or one of the shipped common open licenses
    (registry.licenses_common; made when missing, as migration 0022 does)."""
    row = License.objects.filter(slug=slug).first()
    if row is None:
        shipped = {s: (name, url) for s, name, url in COMMON_LICENSES}
        if slug not in shipped:
            return None
        name, url = shipped[slug]
        row, _ = License.objects.get_or_create(slug=slug, defaults={"name": name, "url": url,
                                                                     "text": license_text(name, url)})
    return row


def repo_license_follow_card(*, repo: ModelRepo, card_license: str, actor: Any = None,
                             ip: str | None = None) -> bool:
    """main's card names `license: <id>`: when the hub knows that license and the repo has none, or has the one an
    earlier card set, the repo's license follows it (call inside the card change's transaction). An owner's explicit
    choice (license_from_card false) is never overridden: the disagreement is shown instead
    (registry.selectors.licenses.license_disagreement). Returns whether the license changed (audited)."""
    slug = (card_license or "").strip().lower()
    if repo.license_id is not None and not repo.license_from_card:
        return False
    row = known_license(slug) if slug else None
    if row is None:
        if repo.license_id is None or repo.is_gated:  # a gated repo keeps the license its users accepted
            return False
        # The card no longer names a license the hub knows: the one an earlier card set goes with it.
        before = repo.license.slug
        repo.license, repo.license_from_card = None, False
        ModelRepo.objects.filter(pk=repo.pk).update(license=None, license_from_card=False)
        audit_record(actor=actor, action="repo.license_from_card", target=repo, ip=ip,
                     metadata={"license": None, "before": before})
        return True
    if row.pk == repo.license_id:
        return False
    before = repo.license.slug if repo.license_id else None
    repo.license, repo.license_from_card = row, True
    ModelRepo.objects.filter(pk=repo.pk).update(license=row, license_from_card=True)
    audit_record(actor=actor, action="repo.license_from_card", target=repo, ip=ip,
                 metadata={"license": row.slug, "before": before})
    return True
