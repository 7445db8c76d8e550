"""License acceptance for gated repos: a record per user, repo and license version."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from registry import permissions
from registry.exceptions import InvalidInput, NotAuthenticated, PermissionDenied, RepoNotFound
from registry.models import License, LicenseAcceptance, ModelRepo
from registry.services.audit import audit_record


def _check_answers(repo: ModelRepo, answers: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(answers, dict):
        raise InvalidInput("answers must be an object")
    cleaned: dict[str, Any] = {}
    for question in repo.gating_fields or []:
        value = answers.get(question["name"])
        if question.get("type") == "checkbox":
            value = bool(value)
            if question.get("required") and not value:
                raise InvalidInput(f"{question['label']}: this box must be ticked")
        else:
            value = str(value or "").strip()[:1000]
            if question.get("required") and not value:
                raise InvalidInput(f"{question['label']}: this field is required")
        cleaned[question["name"]] = value
    return cleaned


def license_accept(*, user: Any, repo: ModelRepo, answers: dict[str, Any] | None = None,
                   ip: str | None = None) -> LicenseAcceptance:
    """Accept the repo's current license. Auto gating approves at once; manual leaves it pending.

    Accepting again after a decision keeps the decision (a rejected user can't re-approve themselves).
    """
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticated("Sign in to accept the license")
    if not permissions.can_read_repo(user, repo):
        raise RepoNotFound("Repository not found")
    if not repo.is_gated:
        raise InvalidInput("this model is not gated; no license acceptance is needed")
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


def license_decide(*, actor: Any, acceptance: LicenseAcceptance, approve: bool,
                   ip: str | None = None) -> LicenseAcceptance:
    """An owning-organisation admin (or staff) approves or rejects a pending request."""
    if not permissions.can_admin_repo(actor, acceptance.repo):
        raise PermissionDenied("only the model's organisation admins can decide access requests")
    status = LicenseAcceptance.Status.ACCEPTED if approve else LicenseAcceptance.Status.REJECTED
    with transaction.atomic():
        acceptance.status = status
        acceptance.decided_at = timezone.now()
        acceptance.decided_by = actor
        acceptance.save(update_fields=["status", "decided_at", "decided_by"])
        audit_record(actor=actor, action=f"license.{'approve' if approve else 'reject'}",
                     target=acceptance.repo, ip=ip,
                     metadata={"user": acceptance.user.get_username(),
                               "license_version": acceptance.license_version})
    return acceptance


def license_update_text(*, actor: Any, license: License, text: str, ip: str | None = None) -> License:
    """Change a license's text; the version goes up, so every gated user must accept again."""
    if not getattr(actor, "is_staff", False):
        raise PermissionDenied("only staff can change license texts")
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
