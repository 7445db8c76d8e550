"""The consortium's release process: request → checklist → sign-off → publish (tag + signed manifest) → withdraw.

Every transition is one transaction with its AuditEvent; emails go out after the commit, once (advisories are
rows, so a re-run sends nothing twice). Publishing is idempotent: the Celery task may run it any number of times.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from registry import hooks, permissions
from registry.cards import CardError, parse_card
from registry.exceptions import Conflict, InvalidInput, PermissionDenied, RepoNotFound
from registry.models import (
    Commit,
    CommitFile,
    InferenceCheck,
    InferenceStatus,
    ModelRepo,
    Release,
    ReleaseAdvisory,
    ReleaseDecision,
    RepoFollow,
    Tag,
    UserDownload,
    ValidationRun,
    ValidationStatus,
)
from registry.selectors.licenses import license_disagreement
from registry.selectors.repos import revision_resolve
from registry.services.audit import audit_record
from registry.services.catalogue import catalogue_tracked
from registry.services.inference import commit_is_checkable
from registry.services.jobs import job_dispatch, job_enqueue
from registry.site import site_name, site_url

logger = logging.getLogger(__name__)

# semver.org 2.0.0: MAJOR.MINOR.PATCH[-prerelease][+build], no leading zeros.
_NUM = r"(0|[1-9]\d*)"
_PRE = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
VERSION_MAX_LENGTH = 64
SEMVER_RE = re.compile(
    rf"^{_NUM}\.{_NUM}\.{_NUM}(?:-{_PRE}(?:\.{_PRE})*)?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$"
)
MANIFEST_FORMAT = "consortium-hub-release/1"
DECIDABLE = (Release.State.PENDING,)


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    ok: bool
    detail: str = ""  # English, as the API and the audit trail read it
    # The detail's English text with %(name)s placeholders and their values: the portal shows it translated
    # (portal.templatetags.hub.checklist_detail); "" when the detail is free text (a card parser's message).
    detail_msgid: str = ""
    detail_args: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        item = {"key": self.key, "label": self.label, "ok": self.ok, "detail": self.detail}
        if self.detail_msgid:
            item["detail_msgid"] = self.detail_msgid
            item["detail_args"] = self.detail_args
        return item


def _item(key: str, label: str, ok: bool, msgid: str = "", **args: str) -> ChecklistItem:
    """A checklist item whose detail is `msgid` (marked with gettext_noop) filled with `args`."""
    return ChecklistItem(key, label, ok, msgid % args if args else msgid, msgid, args)


# --- who may decide ------------------------------------------------------------------------------------------


def _require_reviewer(actor: Any, repo: ModelRepo) -> None:
    """Not found to those who can't read the repo (whatever they administer elsewhere), refused to readers who are
    not consortium admins (registry.permissions.can_review_releases)."""
    if not permissions.can_read_repo(actor, repo):
        raise RepoNotFound(gettext("Repository not found"))
    if not permissions.is_consortium_admin(actor):
        raise PermissionDenied(gettext(
            "only consortium admins (admins of a consortium member organisation) can do this"))


# --- checklist ---------------------------------------------------------------------------------------------


def _validation_item(commit: Commit) -> ChecklistItem:
    label = gettext_noop("Validation passed with no failed file")
    run = ValidationRun.objects.filter(commit=commit).first()
    if run is None:
        return _item("validation", label, False, gettext_noop("this commit was never validated"))
    repo_checks = [c for c in (run.summary or {}).get("checks", []) if isinstance(c, dict)]
    if run.status not in (ValidationStatus.PASSED, ValidationStatus.WARNING):
        # Name the repo-level checks that failed (config.json against the weights, a sharded index…): the
        # reviewer sees why without opening the Checks tab.
        failing = [f"{c.get('name')}: {c.get('message')}" for c in repo_checks if c.get("status") == "failed"]
        if not failing:
            return _item("validation", label, False, gettext_noop("validation is %(status)s"), status=run.status)
        item = _item("validation", label, False, gettext_noop("validation is %(status)s — %(failing)s"),
                     status=run.status, failing="; ".join(failing[:3]))
        return ChecklistItem(item.key, label, False, item.detail[:1000], item.detail_msgid,
                             {**item.detail_args, "failing": item.detail_args["failing"][:1000]})
    failed = list(run.files.filter(status=ValidationStatus.FAILED).values_list("path", flat=True)[:5])
    if failed:
        return _item("validation", label, False, gettext_noop("failed files: %(files)s"), files=", ".join(failed))
    warned = [str(c.get("name")) for c in repo_checks if c.get("status") == "warning"]
    if warned:
        return _item("validation", label, True, gettext_noop("validation %(status)s (warnings: %(warnings)s)"),
                     status=run.status, warnings=", ".join(warned[:6]))
    return _item("validation", label, True, gettext_noop("validation %(status)s"), status=run.status)


# The inference item's details when the check did not pass: how to get past a check that can't run here.
_NOT_RUN_DETAILS = {
    "none": gettext_noop(
        "no inference check has run for this commit (not run: this hub may have no GPU worker); a consortium admin "
        "who may approve releases can waive it with a reason (Waive inference check on the release page, or POST "
        "…/waive-inference); the waiver is audited and written into the manifest"),
    "status": gettext_noop(
        "inference check %(status)s (not run: a hub without GPU workers never runs it); a consortium admin who may "
        "approve releases can waive it with a reason (Waive inference check on the release page, or POST "
        "…/waive-inference); the waiver is audited and written into the manifest"),
    "status_reason": gettext_noop(
        "inference check %(status)s: %(reason)s (not run: a hub without GPU workers never runs it); a consortium "
        "admin who may approve releases can waive it with a reason (Waive inference check on the release page, or "
        "POST …/waive-inference); the waiver is audited and written into the manifest"),
}


def _inference_item(commit: Commit, release: Release | None) -> ChecklistItem:
    label = gettext_noop("Inference check passed (or waived by an admin)")
    if not commit_is_checkable(commit=commit):
        return _item("inference", label, True, gettext_noop("no transformers model to check"))
    check = InferenceCheck.objects.filter(commit=commit).order_by("-created_at", "-id").first()
    if check is not None and check.status == InferenceStatus.PASSED:
        return _item("inference", label, True, gettext_noop("inference check passed"))
    if release is not None and release.inference_waiver_reason:
        reason = release.inference_waiver_reason
        if release.inference_waived_by:
            return _item("inference", label, True, gettext_noop("waived by %(by)s: %(reason)s"),
                         by=release.inference_waived_by.get_username(), reason=reason)
        return _item("inference", label, True, gettext_noop("waived: %(reason)s"), reason=reason)
    if check is None:
        # No GPU worker (or no inference extra) on this hub: the check never runs, so say how to get past it.
        return _item("inference", label, False, _NOT_RUN_DETAILS["none"])
    if check.status in (InferenceStatus.PENDING, InferenceStatus.RUNNING, InferenceStatus.SKIPPED):
        # Queued with no GPU worker to take it, or skipped (no inference extra): it has not run.
        if check.reason:
            return _item("inference", label, False, _NOT_RUN_DETAILS["status_reason"], status=check.status,
                         reason=check.reason)
        return _item("inference", label, False, _NOT_RUN_DETAILS["status"], status=check.status)
    if check.reason:
        return _item("inference", label, False, gettext_noop("inference check %(status)s: %(reason)s"),
                     status=check.status, reason=check.reason)
    return _item("inference", label, False, gettext_noop("inference check %(status)s"), status=check.status)


def _card_item(commit: Commit) -> ChecklistItem:
    label = gettext_noop("Model card with license, languages and pipeline tag")
    readme = CommitFile.objects.filter(commit=commit, path="README.md").only("content", "blob_id").first()
    if readme is None:
        return _item("card", label, False, gettext_noop("README.md is missing"))
    if readme.content is None:
        return _item("card", label, False, gettext_noop("README.md is stored as a large file; keep the card small"))
    try:
        data = parse_card(bytes(readme.content).decode("utf-8", errors="replace")).data
    except CardError as exc:
        return ChecklistItem("card", label, False, str(exc))
    missing = [key for key in ("license", "language", "pipeline_tag") if not data.get(key)]
    if missing:
        return _item("card", label, False, gettext_noop("the card's metadata lacks: %(keys)s"),
                     keys=", ".join(missing))
    return ChecklistItem("card", label, True, "")


def _license_item(repo: ModelRepo) -> ChecklistItem:
    label = gettext_noop("License set on the repository")
    if repo.license_id is None:
        if repo.card_license:
            return _item("license", label, False, gettext_noop(
                "no license is set in the repository settings; the card's license %(card)s is not one the hub "
                "knows: a hub admin adds it, or the owner picks one"), card=repr(repo.card_license))
        return _item("license", label, False, gettext_noop(
            "no license is set in the repository settings; put `license: <id>` (e.g. apache-2.0) in the model "
            "card, or pick one"))
    if license_disagreement(repo):
        return _item("license", label, True, gettext_noop(
            "%(name)s v%(version)s — warning: the model card says license: %(card)s, but the repository's license "
            "setting is %(setting)s"), name=repo.license.name, version=str(repo.license.version),
            card=repo.card_license, setting=repo.license.slug)
    return _item("license", label, True, gettext_noop("%(name)s v%(version)s"), name=repo.license.name,
                 version=str(repo.license.version))


def release_checklist(*, repo: ModelRepo, commit: Commit, release: Release | None = None) -> list[ChecklistItem]:
    return [_validation_item(commit), _inference_item(commit, release), _card_item(commit), _license_item(repo)]


def checklist_ok(items: list[dict[str, Any]] | list[ChecklistItem]) -> bool:
    return all((item.ok if isinstance(item, ChecklistItem) else item.get("ok")) for item in items)


def _store_checklist(release: Release) -> None:
    items = release_checklist(repo=release.repo, commit=release.commit, release=release)
    release.checklist = [item.as_dict() for item in items]
    if release.state in (Release.State.DRAFT, Release.State.PENDING):
        release.state = Release.State.PENDING if checklist_ok(items) else Release.State.DRAFT
        release.license = release.repo.license  # an open request carries the repo's license as it is now


def release_hub_url(base_url: str | None = None) -> str:
    """The manifest's `hub`: SITE_URL when configured, else the address the request reached (`base_url`, e.g.
    request.build_absolute_uri("/")), else SITE_URL's default."""
    if settings.SITE_URL_CONFIGURED or not base_url:
        return settings.SITE_URL
    return base_url.rstrip("/")


# --- request -------------------------------------------------------------------------------------------------


def _release_event(release: Release, action: str) -> None:
    """Webhooks' `release` scope (the consortium's own): requested, approved, published, withdrawn."""
    hooks.hub_event(scope="release", action=action, repo_id=release.repo_id, release_id=release.pk)


def release_request(*, actor: Any, repo: ModelRepo, version: str, revision: str, title: str, notes: str = "",
                    api_key: Any = None, ip: str | None = None, base_url: str | None = None) -> Release:
    """A writer proposes a commit as a release. Blocked (draft) while the checklist has unmet items."""
    permissions.require_write_repo(actor, repo, api_key)  # not found to non-readers, refused to readers
    version = (version or "").strip().removeprefix("v")
    if not SEMVER_RE.match(version):
        raise InvalidInput(gettext("%(version)r is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0)")
            % {"version": version})
    if len(version) > VERSION_MAX_LENGTH:  # the column, and the tag v{version} must stay a short ref name
        raise InvalidInput(gettext("the version is longer than %(VERSION_MAX_LENGTH)s characters")
            % {"VERSION_MAX_LENGTH": VERSION_MAX_LENGTH})
    title = (title or "").strip()
    if not title:
        raise InvalidInput(gettext("a release needs a title"))
    if len(title) > 200:
        raise InvalidInput(gettext("the title is longer than 200 characters"))
    commit = revision_resolve(repo=repo, revision=revision or "main")
    now = timezone.now()
    try:
        with transaction.atomic():
            release = Release(repo=repo, version=version, commit=commit, title=title, notes=notes or "",
                              license=repo.license, state=Release.State.DRAFT, requested_by=actor,
                              requested_at=now, created_at=now, updated_at=now,
                              hub_url=release_hub_url(base_url))
            _store_checklist(release)
            release.save()
            audit_record(actor=actor, action="release.request", target=repo, ip=ip,
                         metadata={"version": version, "commit": commit.oid, "state": release.state})
            _release_event(release, "requested")
    except IntegrityError as exc:
        raise Conflict(gettext("%(repo_id)s already has a release %(version)s")
            % {"repo_id": repo.repo_id, "version": version}) from exc
    return release


def release_recheck(*, release: Release, actor: Any = None, ip: str | None = None) -> Release:
    """Recompute the checklist (a blocked request becomes pending once every item is met). With an actor (the
    member who requested the release, or a consortium admin: release_rerun_checklist) it is always audited."""
    with transaction.atomic():
        release = Release.objects.select_for_update(of=("self",)).select_related("repo", "commit").get(pk=release.pk)
        if actor is not None and release.state not in (Release.State.DRAFT, Release.State.PENDING):
            raise Conflict(gettext("release %(version)s is %(state)s; only open requests are re-checked")
                % {"version": release.version, "state": release.state})
        before = release.state
        _store_checklist(release)
        release.updated_at = timezone.now()
        release.save(update_fields=["checklist", "state", "license", "updated_at"])
        if release.state != before or actor is not None:
            audit_record(actor=actor, action="release.recheck", target=release.repo, ip=ip,
                         metadata={"version": release.version, "state": release.state, "before": before,
                                   "unmet": [i["key"] for i in release.checklist if not i["ok"]]})
    return release


def release_rerun_checklist(*, actor: Any, release: Release, reason: str = "", ip: str | None = None) -> Release:
    """Re-run a stale checklist (e.g. after the license was set or the inference check ran): the member who
    requested the release, or a consortium admin; others who can read the repo are refused."""
    if not permissions.can_read_repo(actor, release.repo):
        raise RepoNotFound(gettext("Repository not found"))
    requester = release.requested_by_id is not None and release.requested_by_id == getattr(actor, "pk", None)
    if not requester and not permissions.is_consortium_admin(actor):
        raise PermissionDenied(gettext("only the member who requested this release, or a consortium admin, can re-run "
                               "its checklist"))
    return release_recheck(release=release, actor=actor, ip=ip)


def release_waive_inference(*, actor: Any, release: Release, reason: str, ip: str | None = None) -> Release:
    _require_reviewer(actor, release.repo)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(gettext("waiving the inference check needs a reason"))
    with transaction.atomic():
        release = Release.objects.select_for_update(of=("self",)).select_related("repo", "commit").get(pk=release.pk)
        if release.state not in (Release.State.DRAFT, Release.State.PENDING):
            raise Conflict(gettext("release %(version)s is %(state)s; only open requests can be changed")
                % {"version": release.version, "state": release.state})
        release.inference_waived_by = actor
        release.inference_waiver_reason = reason
        _store_checklist(release)
        release.updated_at = timezone.now()
        release.save()
        audit_record(actor=actor, action="release.waive_inference", target=release.repo, ip=ip,
                     metadata={"version": release.version, "reason": reason})
    return release


# --- sign-off ----------------------------------------------------------------------------------------------


def _decision_org(actor: Any, repo: ModelRepo) -> int | None:
    """The organisation the actor decides for: one of their consortium orgs, preferring one other than the owner."""
    orgs = permissions.consortium_admin_orgs(actor)
    others = [org for org in orgs if org != repo.owner_org_id]
    return (others or orgs or [None])[0]


def quorum_reached(release: Release) -> bool:
    approvals = list(release.decisions.filter(decision=ReleaseDecision.Decision.APPROVE)
                     .values_list("organization_id", "user_id"))
    # Superusers without an organisation count as themselves.
    voters = {org if org is not None else f"user:{user}" for org, user in approvals}
    needed = settings.RELEASE_APPROVALS_REQUIRED
    if len(voters) < needed:
        return False
    if needed > 1 and not (voters - {release.repo.owner_org_id}):
        return False
    return True


def _decide(actor: Any, release: Release, decision: str, reason: str, ip: str | None,
            base_url: str | None = None) -> Release:
    _require_reviewer(actor, release.repo)
    with transaction.atomic():
        release = Release.objects.select_for_update(of=("self",)).select_related("repo", "commit").get(pk=release.pk)
        if release.state == Release.State.DRAFT:
            _store_checklist(release)  # a blocked request may have become complete since
        if release.state == Release.State.DRAFT:
            unmet = "; ".join(
                item["detail"] or gettext(item["label"]) for item in release.checklist if not item["ok"])
            raise Conflict(gettext("release %(version)s is blocked by its checklist: %(unmet)s")
                % {"version": release.version, "unmet": unmet})
        if release.state not in DECIDABLE:
            raise Conflict(gettext("release %(version)s is %(state)s; there is nothing to decide")
                % {"version": release.version, "state": release.state})
        if release.requested_by_id is not None and release.requested_by_id == actor.pk:
            raise PermissionDenied(gettext("a release can't be signed off by the member who requested it"))
        try:
            with transaction.atomic():
                ReleaseDecision.objects.create(release=release, user=actor, decision=decision, reason=reason,
                                               organization_id=_decision_org(actor, release.repo))
        except IntegrityError as exc:
            raise Conflict(gettext("you have already decided on this release")) from exc
        now = timezone.now()
        if decision == ReleaseDecision.Decision.REJECT:
            release.state = Release.State.REJECTED
            release.rejected_reason = reason
        elif quorum_reached(release):
            release.state = Release.State.APPROVED
            release.approved_at = now
            if base_url:
                release.hub_url = release_hub_url(base_url)
            release_id = release.pk
            job_enqueue(task="registry.publish_release", key=release_id, send=lambda key: _queue_publish(key))
            _release_event(release, "approved")
        release.updated_at = now
        release.save()
        audit_record(actor=actor, action=f"release.{decision}", target=release.repo, ip=ip,
                     metadata={"version": release.version, "reason": reason, "state": release.state})
    return release


def release_approve(*, actor: Any, release: Release, reason: str = "", ip: str | None = None,
                    base_url: str | None = None) -> Release:
    return _decide(actor, release, ReleaseDecision.Decision.APPROVE, (reason or "").strip(), ip, base_url)


def release_reject(*, actor: Any, release: Release, reason: str, ip: str | None = None) -> Release:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(gettext("rejecting a release needs a reason"))
    return _decide(actor, release, ReleaseDecision.Decision.REJECT, reason, ip)


def _queue_publish(release_id: int) -> None:
    job_dispatch(task="registry.publish_release", key=release_id)


def release_queue_publish(*, actor: Any, release: Release) -> None:
    """Send an approved (unpublished) release to the publisher again, e.g. after fixing the signing key."""
    _require_reviewer(actor, release.repo)
    if release.state != Release.State.APPROVED:
        raise Conflict(gettext("release %(version)s is %(state)s, not approved")
            % {"version": release.version, "state": release.state})
    job_enqueue(task="registry.publish_release", key=release.pk, send=lambda key: _queue_publish(key))


# --- publishing --------------------------------------------------------------------------------------------


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _manifest_files(commit: Commit) -> list[dict[str, Any]]:
    files = []
    for entry in CommitFile.objects.filter(commit=commit).select_related("blob").order_by("path"):
        if entry.blob_id is not None:
            sha256 = entry.blob.sha256
        else:
            sha256 = hashlib.sha256(bytes(entry.content or b"")).hexdigest()
        files.append({"path": entry.path, "size": entry.size, "sha256": sha256})
    return files


def _inference_summary(release: Release) -> dict[str, Any]:
    commit = release.commit
    if not commit_is_checkable(commit=commit):
        return {"status": "not applicable"}
    check = InferenceCheck.objects.filter(commit=commit).order_by("-created_at", "-id").first()
    summary: dict[str, Any] = {"status": check.status if check else "none"}
    if check is not None:
        metrics = check.metrics or {}
        summary.update({
            "device": check.device,
            "metrics": {key: metrics[key] for key in ("tokens_per_second", "ttft_seconds", "load_seconds",
                                                      "peak_memory_bytes", "perplexity") if key in metrics},
        })
    if release.inference_waiver_reason and summary["status"] != InferenceStatus.PASSED:
        summary["waiver"] = {"reason": release.inference_waiver_reason,
                             "by": release.inference_waived_by.get_username() if release.inference_waived_by
                             else ""}
    return summary


def _validation_summary(commit: Commit) -> dict[str, Any]:
    run = ValidationRun.objects.filter(commit=commit).first()
    if run is None:
        return {"status": "none"}
    return {"status": run.status, "files_checked": run.files.count(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None}


def release_manifest(*, release: Release, published_at: Any, key_id: str) -> dict[str, Any]:
    repo, license_row = release.repo, release.license
    approvals = [
        {"user": d.user.get_username() if d.user else "", "organization": d.organization.slug if d.organization
         else "", "at": d.created_at.isoformat()}
        for d in release.decisions.filter(decision=ReleaseDecision.Decision.APPROVE)
        .select_related("user", "organization").order_by("created_at", "id")
    ]
    return {
        "format": MANIFEST_FORMAT,
        "hub": settings.SITE_URL if settings.SITE_URL_CONFIGURED else (release.hub_url or settings.SITE_URL),
        "repo": repo.repo_id,
        "version": release.version,
        "tag": release.tag_name,
        "commit": release.commit.oid,
        "title": release.title,
        "files": _manifest_files(release.commit),
        "license": ({"slug": license_row.slug, "name": license_row.name, "version": license_row.version,
                     **({"url": license_row.url} if license_row.url else {})} if license_row else None),
        "validation": _validation_summary(release.commit),
        "inference": _inference_summary(release),
        "approvals": approvals,
        "published_at": published_at.isoformat(),
        "signing_key_id": key_id,
    }


def release_publish(*, release_id: int) -> Release:
    """Tag, sign and publish an approved release. Idempotent: a published release is left as it is."""
    from registry import signing

    notify: list[str] = []
    with transaction.atomic():
        release = (Release.objects.select_for_update(of=("self",)).select_related("repo", "commit", "license")
                   .get(pk=release_id))
        if release.state != Release.State.APPROVED:
            return release
        repo = release.repo
        if release.license_id is None and repo.license_id is not None:
            release.license = repo.license  # approved before the license was set: sign what the repo has now
        tag = Tag.objects.filter(repo=repo, name=release.tag_name).first()
        if tag is not None and tag.commit_id != release.commit_id:
            release.publish_error = (f"the tag {release.tag_name} already points at another commit "
                                     f"({tag.commit.oid}); delete it or publish another version")
            release.save(update_fields=["publish_error"])
            return release
        now = timezone.now()
        try:
            key_id = signing.key_id()
            manifest = canonical_json(release_manifest(release=release, published_at=now, key_id=key_id))
            signature = signing.sign(manifest)
        except signing.SigningKeyMissing as exc:
            release.publish_error = str(exc)
            release.save(update_fields=["publish_error"])
            return release
        if tag is None:
            Tag.objects.create(repo=repo, name=release.tag_name, commit=release.commit,
                               message=f"Release {release.version}: {release.title}")
            audit_record(actor=None, action="tag.create", target=repo,
                         metadata={"tag": release.tag_name, "commit": release.commit.oid, "release": release.pk})
            hooks.ref_moved(repo_id=repo.pk, ref=f"refs/tags/{release.tag_name}", old=None,
                            new=release.commit.oid)
        if repo.private:
            repo.private = False
            repo.updated_at = now
            with catalogue_tracked(repo_id=repo.pk):
                repo.save(update_fields=["private", "updated_at"])
            audit_record(actor=None, action="repo.update", target=repo,
                         metadata={"private": False, "reason": f"release {release.version} published"})
            hooks.hub_event(scope="repo.config", action="update", repo_id=repo.pk, updated_config={"private": False})
        release.manifest = manifest
        release.signature = signature
        release.signing_key_id = key_id
        release.state = Release.State.PUBLISHED
        release.published_at = now
        release.publish_error = ""
        release.updated_at = now
        release.save()
        audit_record(actor=None, action="release.publish", target=repo,
                     metadata={"version": release.version, "commit": release.commit.oid, "key_id": key_id})
        _release_event(release, "published")
        notify = list(RepoFollow.objects.filter(repo=repo, user__is_active=True).exclude(user__email="")
                      .values_list("user__email", flat=True))
        published = release
        transaction.on_commit(lambda: _email_followers(published, notify))
        transaction.on_commit(lambda: _enqueue_mirrors(published))
    return release


def _release_url(release: Release) -> str:
    return f"{site_url()}/{release.repo.repo_id}/releases/{release.version}"


def _signature() -> str:
    """The closing line of the hub's e-mails: its name and address from settings (SITE_NAME, SITE_URL)."""
    return f"\n\n-- \n{site_name(translated=False)}\n{site_url()}\n"


def _email_followers(release: Release, emails: list[str]) -> None:
    url = _release_url(release)
    name = site_name(translated=False)
    for email in emails:
        try:
            send_mail(f"[{name}] {release.repo.repo_id}: release {release.version}: {release.title}",
                      f"{release.repo.repo_id} published release {release.version} ({release.title}).\n\n"
                      f"{url}\n\nYou receive this because you follow {release.repo.repo_id} on {name}."
                      + _signature(),
                      None, [email])
        except Exception:  # noqa: BLE001 - one bad address must not stop the others
            logger.exception("could not email %s about release %s", email, release.pk)


def _enqueue_mirrors(release: Release) -> None:
    try:
        from registry.services import mirrors
    except ImportError:
        return
    enqueue = getattr(mirrors, "mirror_enqueue", None)
    if enqueue is not None:
        enqueue(release=release)


# --- withdrawal ----------------------------------------------------------------------------------------------


def release_withdraw(*, actor: Any, release: Release, reason: str, ip: str | None = None) -> Release:
    """Withdraw a published release: listed no more, tag and manifest kept, downloaders warned by email."""
    _require_reviewer(actor, release.repo)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(gettext("withdrawing a release needs a reason"))
    with transaction.atomic():
        release = Release.objects.select_for_update(of=("self",)).select_related("repo", "commit").get(pk=release.pk)
        if release.state != Release.State.PUBLISHED:
            raise Conflict(gettext("release %(version)s is %(state)s; only published releases are withdrawn")
                % {"version": release.version, "state": release.state})
        now = timezone.now()
        release.state = Release.State.WITHDRAWN
        release.withdrawn_at, release.withdrawn_by, release.withdrawn_reason = now, actor, reason
        release.updated_at = now
        release.save()
        downloaders = (UserDownload.objects.filter(repo=release.repo, commit=release.commit, user__is_active=True)
                       .exclude(user__email="").values_list("user_id", "user__email"))
        for user_id, email in downloaders:
            ReleaseAdvisory.objects.get_or_create(release=release, user_id=user_id, defaults={"email": email})
        audit_record(actor=actor, action="release.withdraw", target=release.repo, ip=ip,
                     metadata={"version": release.version, "reason": reason, "advisories": len(downloaders)})
        _release_event(release, "withdrawn")
        release_id = release.pk
        job_enqueue(task="registry.send_release_advisories", key=release_id,
                    send=lambda key: _queue_advisories(key))
    return release


def _queue_advisories(release_id: int) -> None:
    job_dispatch(task="registry.send_release_advisories", key=release_id)


def release_send_advisories(*, release_id: int) -> int:
    """Email every advisory not sent yet (each row once, even when this runs again)."""
    release = Release.objects.select_related("repo", "commit").get(pk=release_id)
    url = _release_url(release)
    sent = 0
    for advisory in ReleaseAdvisory.objects.filter(release=release, sent_at__isnull=True):
        with transaction.atomic():
            claimed = ReleaseAdvisory.objects.filter(pk=advisory.pk, sent_at__isnull=True).update(
                sent_at=timezone.now())
            if not claimed:
                continue
            send_mail(
                f"[{site_name(translated=False)}] {release.repo.repo_id}: advisory: release {release.version} "
                "was withdrawn",
                f"You downloaded {release.repo.repo_id} at commit {release.commit.oid} (release "
                f"{release.version}). The consortium has withdrawn this release:\n\n{release.withdrawn_reason}\n\n"
                f"Stop using the files of this revision. Details: {url}" + _signature(),
                None, [advisory.email],
            )
            sent += 1
    return sent
