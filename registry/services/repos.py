from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from registry import hooks, permissions
from registry.exceptions import Conflict, InvalidInput, PermissionDenied, RepoNotFound
from registry.models import ApiKey, License, ModelRepo, Organization, Release
from registry.names import check_name, check_namespace
from registry.selectors.repos import repo_id_ci
from registry.services.audit import audit_record
from registry.services.catalogue import catalogue_snapshot, catalogue_tracked, catalogue_update

# What the Hub writes into a new repo: these patterns are stored as LFS by git clients.
DEFAULT_GITATTRIBUTES = "\n".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gguf", "*.gz", "*.h5", "*.joblib",
        "*.lfs.*", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet",
        "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "saved_model/**/*",
        "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
    )
) + "\n"


def _validate_id(namespace: str, name: str) -> None:
    check_namespace(namespace)
    check_name(name)


def _owner_for(namespace: str) -> tuple[Any, Organization | None]:
    org = Organization.objects.filter(slug=namespace).first()
    if org is not None:
        return None, org
    user = get_user_model().objects.filter(username=namespace).first()
    if user is None:
        raise InvalidInput(gettext("no user or organisation named %(namespace)r") % {"namespace": namespace})
    return user, None


def repo_create(
    *,
    actor: Any,
    namespace: str,
    name: str,
    private: bool = False,
    gating: str = ModelRepo.Gating.NONE,
    license: License | None = None,
    api_key: ApiKey | None = None,
    ip: str | None = None,
) -> ModelRepo:
    """Create a repo with an initial commit on `main` (holding .gitattributes), as the Hub does.

    Raises Conflict (carrying the existing repo) when the id is taken.
    """
    from registry.services.commits import AddInline, commit_create

    _validate_id(namespace, name)
    if gating not in ModelRepo.Gating.values:
        raise InvalidInput(gettext("gating must be one of %(join)s") % {"join": ', '.join(ModelRepo.Gating.values)})
    if not permissions.can_write_namespace(actor, namespace, api_key):
        raise PermissionDenied(gettext("You don't have the rights to create a model under the namespace %(namespace)r")
            % {"namespace": namespace})
    owner_user, owner_org = _owner_for(namespace)
    if ModelRepo.objects.filter(repo_id_ci(namespace, name)).exists():
        raise Conflict(gettext("You already created this model repo"), code="RepoExists")
    try:
        with transaction.atomic():
            repo = ModelRepo.objects.create(
                namespace=owner_org.slug if owner_org else owner_user.get_username(),
                name=name,
                owner_user=owner_user,
                owner_org=owner_org,
                private=private,
                gating=gating,
                license=license,
            )
            commit_create(
                actor=actor,
                repo=repo,
                operations=[AddInline(path=".gitattributes", content=DEFAULT_GITATTRIBUTES.encode())],
                title="initial commit",
                create_branch=True,
                audit=False,
            )
            audit_record(actor=actor, action="repo.create", target=repo, ip=ip,
                         metadata={"private": private, "gating": gating})
            hooks.hub_event(scope="repo", action="create", repo_id=repo.pk)
            catalogue_update(repo_id=repo.pk, before=set())
    except IntegrityError as exc:
        raise Conflict(gettext("You already created this model repo"), code="RepoExists") from exc
    return repo


RELEASES_RECORDED_MAX = 200


def _release_records(repo: ModelRepo) -> list[dict[str, Any]]:
    """What the repo's releases were, for the deletion's AuditEvent: version, state, commit, and the sha256 of the
    signed manifest, so a copy someone kept can still be matched to what the hub published."""
    rows = (Release.objects.filter(repo=repo).select_related("commit").order_by("-created_at")
            .only("version", "state", "commit__oid", "manifest", "signing_key_id")[:RELEASES_RECORDED_MAX])
    return [{"version": r.version, "state": r.state, "commit": r.commit.oid, "signing_key_id": r.signing_key_id,
             "manifest_sha256": hashlib.sha256(bytes(r.manifest)).hexdigest() if r.manifest else None}
            for r in rows]


def _snapshot(repo: ModelRepo) -> dict[str, Any]:
    """What a delete event carries: the repo as it was (webhooks match and build it after the row is gone)."""
    return {"namespace": repo.namespace, "name": repo.name, "private": repo.private,
            "owner_user_id": repo.owner_user_id, "owner_org_id": repo.owner_org_id}


def repo_delete(*, actor: Any, repo: ModelRepo, api_key: ApiKey | None = None, ip: str | None = None) -> None:
    """Delete a repo and its history, as the Hub does. Blobs stay until the storage GC finds them unreferenced.

    Its releases (requests, sign-offs, published manifests) go with it: a release names a commit of this repo,
    and with the repo gone nothing could serve or verify it here. The deletion's AuditEvent keeps a record of
    each (version, state, commit, manifest sha256).
    """
    if not permissions.can_admin_repo(actor, repo, api_key):
        if not permissions.can_read_repo(actor, repo):
            raise RepoNotFound(gettext("Repository not found"))
        raise PermissionDenied(gettext("You need admin rights on this repository to delete it"))
    with transaction.atomic():
        repo_id = repo.repo_id
        from registry.models import Branch, Commit, CommitFile, Tag

        releases = _release_records(repo)
        Release.objects.filter(repo=repo).delete()  # decisions, mirrors, advisories cascade; commits are PROTECTed
        Branch.objects.filter(repo=repo).delete()
        Tag.objects.filter(repo=repo).delete()
        CommitFile.objects.filter(commit__repo=repo).delete()
        # Children first: commits point at their parents with PROTECT.
        Commit.objects.filter(repo=repo).update(parent=None)
        Commit.objects.filter(repo=repo).delete()
        audit_record(actor=actor, action="repo.delete", target=repo, target_label=repo_id, ip=ip,
                     metadata={"releases": releases} if releases else None)
        repo_pk = repo.pk
        hooks.hub_event(scope="repo", action="delete", repo_id=repo_pk, repo_snapshot=_snapshot(repo))
        facets = catalogue_snapshot(repo_id=repo_pk)  # after the branches: commits lock a branch, then the repo
        repo.delete()
        catalogue_update(repo_id=repo_pk, before=facets)


def repo_update_settings(
    *,
    actor: Any,
    repo: ModelRepo,
    private: bool | None = None,
    gating: str | None = None,
    license: License | None | bool = False,
    gating_fields: list[dict[str, Any]] | None = None,
    api_key: ApiKey | None = None,
    ip: str | None = None,
) -> ModelRepo:
    """Change visibility, gating, license or acceptance questions. `license=False` leaves it unchanged."""
    if not permissions.can_write_repo(actor, repo, api_key):
        if not permissions.can_read_repo(actor, repo):
            raise RepoNotFound(gettext("Repository not found"))
        raise PermissionDenied(gettext("You need write access to change this repository's settings"))
    changes: dict[str, Any] = {}
    if private is not None and private != repo.private:
        changes["private"] = bool(private)
    if gating is not None:
        if gating not in ModelRepo.Gating.values:
            raise InvalidInput(gettext("gated must be one of: auto, manual, false (got %(gating)r)")
                % {"gating": gating})
        if gating != repo.gating:
            changes["gating"] = gating
    if license is not False and license != repo.license:
        changes["license"] = license
        changes["license_from_card"] = False  # the owner's choice: a card's `license:` no longer overrides it
    if gating_fields is not None:
        _check_gating_fields(gating_fields)
        changes["gating_fields"] = gating_fields
    if not changes:
        return repo
    with transaction.atomic(), catalogue_tracked(repo_id=repo.pk):
        for field_name, value in changes.items():
            setattr(repo, field_name, value)
        repo.updated_at = timezone.now()
        repo.save(update_fields=[*changes.keys(), "updated_at"])
        audit_record(
            actor=actor, action="repo.update_settings", target=repo, ip=ip,
            metadata={k: (v.slug if isinstance(v, License) else v) for k, v in changes.items()
                      if k != "license_from_card"},
        )
        if "private" in changes:
            hooks.hub_event(scope="repo.config", action="update", repo_id=repo.pk,
                            updated_config={"private": changes["private"]})
    return repo


def _check_gating_fields(fields: list[dict[str, Any]]) -> None:
    if not isinstance(fields, list):
        raise InvalidInput(gettext("gating fields must be a list"))
    for item in fields:
        if not isinstance(item, dict) or not item.get("name") or not item.get("label"):
            raise InvalidInput(gettext('each gating field needs a "name" and a "label"'))
        if item.get("type", "text") not in {"text", "country", "checkbox", "select"}:
            raise InvalidInput(gettext("gating field type must be text, country, checkbox or select"))


def repo_move(
    *, actor: Any, repo: ModelRepo, to_namespace: str, to_name: str, api_key: ApiKey | None = None,
    ip: str | None = None,
) -> ModelRepo:
    """Rename a repo, or transfer it to a namespace the actor can administer."""
    _validate_id(to_namespace, to_name)
    if not permissions.can_admin_repo(actor, repo, api_key):
        if not permissions.can_read_repo(actor, repo):
            raise RepoNotFound(gettext("Repository not found"))
        raise PermissionDenied(gettext("You need admin rights on this repository to move it"))
    if to_namespace != repo.namespace and not permissions.can_admin_namespace(actor, to_namespace, api_key):
        raise PermissionDenied(gettext("You can't move a repository into %(to_namespace)r")
            % {"to_namespace": to_namespace})
    owner_user, owner_org = _owner_for(to_namespace)
    old = repo.repo_id
    try:
        with transaction.atomic(), catalogue_tracked(repo_id=repo.pk):
            if ModelRepo.objects.filter(repo_id_ci(to_namespace, to_name)).exclude(pk=repo.pk).exists():
                raise Conflict(gettext("%(to_namespace)s/%(to_name)s already exists")
                    % {"to_namespace": to_namespace, "to_name": to_name}, code="RepoExists")
            repo.namespace = owner_org.slug if owner_org else owner_user.get_username()
            repo.name = to_name
            repo.owner_org = owner_org
            repo.owner_user = owner_user
            repo.updated_at = timezone.now()
            repo.save(update_fields=["namespace", "name", "owner_org", "owner_user", "updated_at"])
            audit_record(actor=actor, action="repo.move", target=repo, ip=ip,
                         metadata={"from": old, "to": repo.repo_id})
            hooks.hub_event(scope="repo", action="move", repo_id=repo.pk, moved_from=old)
    except IntegrityError as exc:
        raise Conflict(gettext("%(to_namespace)s/%(to_name)s already exists")
            % {"to_namespace": to_namespace, "to_name": to_name}, code="RepoExists") from exc
    return repo


def repo_set_disabled(*, actor: Any, repo: ModelRepo, disabled: bool, reason: str = "",
                      ip: str | None = None) -> ModelRepo:
    """Take a repo down (nothing downloadable, page says why) or restore it. Staff only."""
    if not getattr(actor, "is_staff", False):
        raise PermissionDenied(gettext("only staff can take repositories down"))
    with transaction.atomic():
        repo.disabled = disabled
        repo.disabled_reason = (reason or "Taken down by an administrator") if disabled else ""
        repo.save(update_fields=["disabled", "disabled_reason"])
        audit_record(actor=actor, action="repo.take_down" if disabled else "repo.restore", target=repo, ip=ip,
                     metadata={"reason": repo.disabled_reason})
    return repo
