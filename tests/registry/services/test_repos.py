"""Repo lifecycle: create, delete, settings, move, take-down. Every decision across the personas."""

from __future__ import annotations

import hashlib

import pytest
from django.utils import timezone

from registry.exceptions import Conflict, InvalidInput, PermissionDenied, RepoNotFound
from registry.models import (
    AuditEvent,
    Blob,
    Branch,
    Commit,
    CommitFile,
    License,
    Membership,
    ModelRepo,
    Organization,
    RepoBlob,
    Tag,
)
from registry.services.commits import AddBlob, AddInline, commit_create
from registry.services.keys import api_key_create
from registry.services.refs import branch_create, tag_create
from registry.services.repos import (
    DEFAULT_GITATTRIBUTES,
    repo_create,
    repo_delete,
    repo_move,
    repo_set_disabled,
    repo_update_settings,
)
from registry.storage import blob_key
from tests.fixtures.personas import make_user


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- repo_create ----------------------------------------------------------------------------

def test_user_creates_repo_in_own_namespace(personas):
    repo = repo_create(actor=personas.outsider, namespace="oscar", name="my-model", ip="10.1.2.3")
    assert repo.repo_id == "oscar/my-model"
    assert repo.owner_user == personas.outsider
    assert repo.owner_org is None
    assert repo.private is False
    event = events("repo.create")[-1]
    assert event.actor == personas.outsider
    assert event.target_id == str(repo.pk)
    assert event.ip == "10.1.2.3"


@pytest.mark.parametrize("who", ["owner", "member"])
def test_org_admin_and_write_member_create_in_org_namespace(personas, who):
    repo = repo_create(actor=getattr(personas, who), namespace="acme", name="model", private=True)
    assert repo.owner_org == personas.org
    assert repo.owner_user is None
    assert repo.private is True
    assert events("repo.create")[-1].actor == getattr(personas, who)


def test_superuser_creates_in_any_org_namespace(personas):
    admin = make_user("root", is_superuser=True, is_staff=True)
    assert repo_create(actor=admin, namespace="acme", name="m").owner_org == personas.org


@pytest.mark.parametrize("who", ["reader", "outsider", "anonymous"])
def test_read_member_outsider_and_anonymous_cannot_create_in_org(personas, who):
    with pytest.raises(PermissionDenied):
        repo_create(actor=getattr(personas, who), namespace="acme", name="model")
    assert not ModelRepo.objects.exists()
    assert not events("repo.create")


def test_user_cannot_create_in_another_users_namespace(personas):
    with pytest.raises(PermissionDenied):
        repo_create(actor=personas.outsider, namespace="mina", name="model")


def test_namespace_that_is_nobody_is_refused(personas):
    with pytest.raises((PermissionDenied, InvalidInput)):
        repo_create(actor=personas.owner, namespace="ghost", name="model")


@pytest.mark.parametrize("namespace", ["admin", "api", "models", "settings", "static", "Admin", "healthz",
                                       "accounts", "datasets", "spaces", "new", "docs"])
def test_reserved_namespaces_are_refused(personas, namespace):
    superuser = make_user("root", is_superuser=True, is_staff=True)
    with pytest.raises(InvalidInput, match="reserved"):
        repo_create(actor=superuser, namespace=namespace, name="model")


@pytest.mark.parametrize("name", ["", "-lead", "trail-", ".dot", "dot.", "a--b", "a..b", "a/b", "a b",
                                  "x" * 97,
                                  "model.git", "MODEL.GIT", "한글", "a\x00b", "ab\n", "\udcff", "ｍａｉｎ", None])
def test_invalid_names_are_refused(personas, name):
    with pytest.raises(InvalidInput):
        repo_create(actor=personas.owner, namespace="acme", name=name)


def test_names_are_unique_in_a_namespace_whatever_their_case_down_to_the_database(personas, make_repo):
    from django.db import IntegrityError, transaction

    make_repo("Tiny")
    with pytest.raises(Conflict):
        repo_create(actor=personas.owner, namespace="acme", name="tINY")
    with pytest.raises(IntegrityError), transaction.atomic():  # a racing create can't slip past the check
        ModelRepo.objects.create(namespace="ACME", name="tiny", owner_org=personas.org)
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.create(slug="ACME", name="Shouty Acme")


def test_an_organisation_cannot_take_a_users_namespace(personas):
    from django.core.exceptions import ValidationError

    for slug in ("oscar", "OSCAR", "admin", "bad--slug"):
        with pytest.raises(ValidationError):
            Organization(slug=slug, name="x").full_clean()
    Organization(slug="fresh", name="x").full_clean()


@pytest.mark.parametrize("name", ["a", "Llama-3.1-8B", "model_v2", "x" * 96, "a-b.c_d", "_x", "x_"])
def test_valid_names_are_accepted(personas, name):
    assert repo_create(actor=personas.owner, namespace="acme", name=name).name == name


def test_invalid_gating_is_refused(personas):
    with pytest.raises(InvalidInput):
        repo_create(actor=personas.owner, namespace="acme", name="m", gating="sometimes")


def test_duplicate_repo_is_conflict(personas):
    repo_create(actor=personas.owner, namespace="acme", name="model")
    with pytest.raises(Conflict):
        repo_create(actor=personas.member, namespace="acme", name="model")
    with pytest.raises(Conflict):
        repo_create(actor=personas.member, namespace="acme", name="MODEL")
    assert ModelRepo.objects.count() == 1


def test_new_repo_has_initial_commit_with_gitattributes_on_main(personas):
    repo = repo_create(actor=personas.owner, namespace="acme", name="model")
    main = Branch.objects.get(repo=repo, name="main")
    assert list(Branch.objects.filter(repo=repo).values_list("name", flat=True)) == ["main"]
    assert main.head.parent is None
    assert main.head.title == "initial commit"
    assert main.head.author == personas.owner
    files = list(CommitFile.objects.filter(commit=main.head))
    assert [f.path for f in files] == [".gitattributes"]
    assert bytes(files[0].content) == DEFAULT_GITATTRIBUTES.encode()
    assert "*.safetensors filter=lfs diff=lfs merge=lfs -text" in DEFAULT_GITATTRIBUTES
    # The initial commit is part of the create event, not a separate commit event.
    assert not events("commit.create")


def test_create_with_key_needs_write_scope(personas):
    read_key, _ = api_key_create(user=personas.member, name="r", scopes=["read"])
    with pytest.raises(PermissionDenied):
        repo_create(actor=personas.member, namespace="acme", name="m", api_key=read_key)
    write_key, _ = api_key_create(user=personas.member, name="w", scopes=["write"])
    assert repo_create(actor=personas.member, namespace="acme", name="m", api_key=write_key)


def test_org_restricted_key_cannot_create_outside_its_org(personas):
    other = Organization.objects.create(slug="other", name="Other")
    Membership.objects.create(user=personas.member, organization=other, role=Membership.Role.WRITE)
    key, _ = api_key_create(user=personas.member, name="k", scopes=["write"], organization=personas.org)
    with pytest.raises(PermissionDenied):
        repo_create(actor=personas.member, namespace="other", name="m", api_key=key)
    with pytest.raises(PermissionDenied):
        repo_create(actor=personas.member, namespace="mina", name="m", api_key=key)
    assert repo_create(actor=personas.member, namespace="acme", name="m", api_key=key)


# --- repo_delete ----------------------------------------------------------------------------

def _repo_with_history(personas, make_repo, name="doomed", **kwargs):  # noqa: ANN001, ANN202
    repo = make_repo(name, **kwargs)
    content = b"weights of " + name.encode()
    sha = hashlib.sha256(content).hexdigest()
    now = timezone.now()
    blob = Blob.objects.create(sha256=sha, size=len(content), storage_key=blob_key(sha),
                               state=Blob.State.VERIFIED, uploaded_at=now, verified_at=now)
    RepoBlob.objects.create(repo=repo, blob=blob, source=RepoBlob.Source.UPLOAD)
    commit_create(actor=personas.owner, repo=repo, title="add", operations=[
        AddInline("README.md", b"# hi"), AddBlob("w.bin", sha, len(content))])
    branch_create(actor=personas.owner, repo=repo, name="dev")
    commit_create(actor=personas.owner, repo=repo, title="dev", branch="dev",
                  operations=[AddInline("dev.txt", b"d")])
    tag_create(actor=personas.owner, repo=repo, name="v1")
    return repo, blob


def test_org_admin_deletes_repo_with_history_but_blobs_stay(personas, make_repo):
    repo, blob = _repo_with_history(personas, make_repo)
    keep, _ = _repo_with_history(personas, make_repo, name="keep")
    pk = repo.pk
    repo_delete(actor=personas.owner, repo=repo, ip="10.0.0.9")
    assert not ModelRepo.objects.filter(pk=pk).exists()
    assert not Commit.objects.filter(repo_id=pk).exists()
    assert not Branch.objects.filter(repo_id=pk).exists()
    assert not Tag.objects.filter(repo_id=pk).exists()
    assert not CommitFile.objects.filter(commit__repo_id=pk).exists()
    assert Blob.objects.filter(pk=blob.pk).exists()
    # The other repo is untouched.
    assert Commit.objects.filter(repo=keep).count() == 3
    event = events("repo.delete")[-1]
    assert event.target_label == "acme/doomed"
    assert event.target_id == str(pk)
    assert event.actor == personas.owner


def test_deleting_a_repo_with_releases_deletes_them_and_the_audit_event_records_them(
        personas, ready, admins, signing_key):
    """HF deletes repos; a release (any state) goes with its repo instead of blocking it with a 500."""
    from registry.models import Release, ReleaseDecision
    from registry.services.releases import release_approve, release_publish
    from tests.fixtures.releases import request

    repo, commit = ready
    draft = request(personas, repo, version="0.9.0")
    published = release_approve(actor=admins["telco"], release=request(personas, repo, version="1.0.0"))
    published = release_publish(release_id=published.pk)
    assert published.state == Release.State.PUBLISHED
    manifest = hashlib.sha256(bytes(published.manifest)).hexdigest()
    pk = repo.pk
    repo_delete(actor=personas.owner, repo=repo)
    assert not ModelRepo.objects.filter(pk=pk).exists()
    assert not Release.objects.filter(pk__in=[draft.pk, published.pk]).exists()
    assert not ReleaseDecision.objects.filter(release_id=published.pk).exists()
    assert not Commit.objects.filter(pk=commit.pk).exists()
    recorded = {r["version"]: r for r in events("repo.delete")[-1].metadata["releases"]}
    assert recorded["1.0.0"] == {"version": "1.0.0", "state": "published", "commit": commit.oid,
                                 "signing_key_id": published.signing_key_id, "manifest_sha256": manifest}
    assert recorded["0.9.0"]["state"] == draft.state and recorded["0.9.0"]["manifest_sha256"] is None


def test_user_deletes_own_repo(personas):
    repo = repo_create(actor=personas.outsider, namespace="oscar", name="m")
    repo_delete(actor=personas.outsider, repo=repo)
    assert not ModelRepo.objects.exists()


def test_write_member_cannot_delete(personas, make_repo):
    repo, _ = _repo_with_history(personas, make_repo)
    with pytest.raises(PermissionDenied):
        repo_delete(actor=personas.member, repo=repo)
    assert ModelRepo.objects.filter(pk=repo.pk).exists()
    assert not events("repo.delete")


@pytest.mark.parametrize("who", ["reader", "outsider", "anonymous"])
def test_others_cannot_delete_public_repo(personas, make_repo, who):
    repo = make_repo()
    with pytest.raises(PermissionDenied):
        repo_delete(actor=getattr(personas, who), repo=repo)
    assert ModelRepo.objects.filter(pk=repo.pk).exists()


@pytest.mark.parametrize(("who", "error"), [("reader", PermissionDenied), ("outsider", RepoNotFound),
                                            ("anonymous", RepoNotFound)])
def test_private_repo_delete_is_not_found_for_non_members(personas, make_repo, who, error):
    repo = make_repo(private=True)
    with pytest.raises(error):
        repo_delete(actor=getattr(personas, who), repo=repo)


def test_delete_with_read_key_is_refused(personas, make_repo):
    repo = make_repo()
    key, _ = api_key_create(user=personas.owner, name="r", scopes=["read"])
    with pytest.raises(PermissionDenied):
        repo_delete(actor=personas.owner, repo=repo, api_key=key)


# --- repo_update_settings ---------------------------------------------------------------------

@pytest.mark.parametrize("who", ["owner", "member"])
def test_owner_and_write_member_update_settings(personas, make_repo, who):
    repo = make_repo()
    fields = [{"name": "company", "label": "Company", "type": "text", "required": True}]
    repo_update_settings(actor=getattr(personas, who), repo=repo, private=True, gating="manual",
                         license=personas.license, gating_fields=fields)
    repo.refresh_from_db()
    assert (repo.private, repo.gating, repo.license, repo.gating_fields) == (True, "manual", personas.license,
                                                                             fields)
    event = events("repo.update_settings")[-1]
    assert event.actor == getattr(personas, who)
    assert event.metadata == {"private": True, "gating": "manual", "license": "acme-license",
                              "gating_fields": fields}


def test_update_settings_without_changes_writes_no_event(personas, make_repo):
    repo = make_repo()
    repo_update_settings(actor=personas.owner, repo=repo, private=False, gating="none")
    assert not events("repo.update_settings")


def test_update_settings_can_clear_the_license(personas, make_repo):
    repo = make_repo(gating="auto")
    repo_update_settings(actor=personas.owner, repo=repo, license=None)
    repo.refresh_from_db()
    assert repo.license is None
    repo_update_settings(actor=personas.owner, repo=repo, private=True)  # license=False: unchanged
    repo.refresh_from_db()
    assert repo.license is None and repo.private


def test_update_settings_refuses_unknown_gating(personas, make_repo):
    repo = make_repo()
    with pytest.raises(InvalidInput):
        repo_update_settings(actor=personas.owner, repo=repo, gating="maybe")


@pytest.mark.parametrize("fields", [
    "not a list", [{"label": "no name"}], [{"name": "x"}], [{"name": "x", "label": "X", "type": "file"}],
    ["str"],
])
def test_update_settings_refuses_bad_gating_fields(personas, make_repo, fields):
    repo = make_repo()
    with pytest.raises(InvalidInput):
        repo_update_settings(actor=personas.owner, repo=repo, gating_fields=fields)


@pytest.mark.parametrize("who", ["reader", "outsider", "anonymous"])
def test_others_cannot_update_public_repo_settings(personas, make_repo, who):
    repo = make_repo()
    with pytest.raises(PermissionDenied):
        repo_update_settings(actor=getattr(personas, who), repo=repo, private=True)
    repo.refresh_from_db()
    assert repo.private is False


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_private_repo_settings_are_not_found_for_outsiders(personas, make_repo, who):
    repo = make_repo(private=True)
    with pytest.raises(RepoNotFound):
        repo_update_settings(actor=getattr(personas, who), repo=repo, private=False)


# --- repo_move ------------------------------------------------------------------------------

def test_org_admin_renames_repo(personas, make_repo):
    repo = make_repo("old-name")
    head = Branch.objects.get(repo=repo, name="main").head
    repo_move(actor=personas.owner, repo=repo, to_namespace="acme", to_name="new-name")
    repo.refresh_from_db()
    assert repo.repo_id == "acme/new-name"
    assert Branch.objects.get(repo=repo, name="main").head == head
    assert events("repo.move")[-1].metadata == {"from": "acme/old-name", "to": "acme/new-name"}


def test_rename_to_other_case_of_same_name_is_allowed(personas, make_repo):
    repo = make_repo("model")
    repo_move(actor=personas.owner, repo=repo, to_namespace="acme", to_name="Model")
    repo.refresh_from_db()
    assert repo.name == "Model"


def test_user_transfers_own_repo_to_an_org_they_administer(personas):
    repo = repo_create(actor=personas.owner, namespace="olivia", name="m")
    repo_move(actor=personas.owner, repo=repo, to_namespace="acme", to_name="m")
    repo.refresh_from_db()
    assert repo.owner_org == personas.org and repo.owner_user is None
    assert repo.namespace == "acme"


def test_org_admin_transfers_org_repo_to_own_namespace(personas, make_repo):
    repo = make_repo("m")
    repo_move(actor=personas.owner, repo=repo, to_namespace="olivia", to_name="m")
    repo.refresh_from_db()
    assert repo.owner_user == personas.owner and repo.owner_org is None


def test_transfer_to_an_org_where_actor_only_writes_is_refused(personas):
    repo = repo_create(actor=personas.member, namespace="mina", name="m")
    with pytest.raises(PermissionDenied):
        repo_move(actor=personas.member, repo=repo, to_namespace="acme", to_name="m")
    repo.refresh_from_db()
    assert repo.repo_id == "mina/m"
    assert not events("repo.move")


def test_transfer_to_another_users_namespace_is_refused(personas):
    repo = repo_create(actor=personas.owner, namespace="olivia", name="m")
    with pytest.raises(PermissionDenied):
        repo_move(actor=personas.owner, repo=repo, to_namespace="oscar", to_name="m")


def test_transfer_to_unknown_namespace_is_refused(personas, make_repo):
    repo = make_repo("m")
    with pytest.raises((PermissionDenied, InvalidInput)):
        repo_move(actor=personas.owner, repo=repo, to_namespace="nobody", to_name="m")


@pytest.mark.parametrize("who", ["member", "reader", "outsider", "anonymous"])
def test_non_admins_cannot_move_public_repo(personas, make_repo, who):
    repo = make_repo("m")
    with pytest.raises(PermissionDenied):
        repo_move(actor=getattr(personas, who), repo=repo, to_namespace="acme", to_name="renamed")
    repo.refresh_from_db()
    assert repo.name == "m"


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_move_of_private_repo_is_not_found_for_outsiders(personas, make_repo, who):
    repo = make_repo("m", private=True)
    with pytest.raises(RepoNotFound):
        repo_move(actor=getattr(personas, who), repo=repo, to_namespace="acme", to_name="renamed")


def test_move_onto_existing_repo_is_conflict(personas, make_repo):
    repo = make_repo("a")
    make_repo("b")
    with pytest.raises(Conflict):
        repo_move(actor=personas.owner, repo=repo, to_namespace="acme", to_name="B")
    repo.refresh_from_db()
    assert repo.name == "a"


@pytest.mark.parametrize(("namespace", "name"), [("acme", "bad--name"), ("admin", "m"), ("acme", "")])
def test_move_to_invalid_or_reserved_id_is_refused(personas, make_repo, namespace, name):
    repo = make_repo("m")
    with pytest.raises(InvalidInput):
        repo_move(actor=personas.owner, repo=repo, to_namespace=namespace, to_name=name)


# --- repo_set_disabled ------------------------------------------------------------------------

def test_staff_takes_repo_down_and_restores_it(personas, make_repo):
    staff = make_user("moderator", is_staff=True)
    repo = make_repo()
    repo_set_disabled(actor=staff, repo=repo, disabled=True, reason="DMCA notice", ip="10.9.9.9")
    repo.refresh_from_db()
    assert repo.disabled and repo.disabled_reason == "DMCA notice"
    down = events("repo.take_down")[-1]
    assert down.actor == staff and down.metadata == {"reason": "DMCA notice"} and down.ip == "10.9.9.9"
    repo_set_disabled(actor=staff, repo=repo, disabled=False)
    repo.refresh_from_db()
    assert not repo.disabled and repo.disabled_reason == ""
    assert events("repo.restore")[-1].actor == staff


def test_take_down_without_reason_gets_a_default(personas, make_repo):
    staff = make_user("moderator", is_staff=True)
    repo = make_repo()
    repo_set_disabled(actor=staff, repo=repo, disabled=True)
    assert repo.disabled_reason


@pytest.mark.parametrize("who", ["owner", "member", "reader", "outsider", "anonymous"])
def test_only_staff_can_take_repos_down(personas, make_repo, who):
    repo = make_repo()
    with pytest.raises(PermissionDenied):
        repo_set_disabled(actor=getattr(personas, who), repo=repo, disabled=True)
    repo.refresh_from_db()
    assert not repo.disabled
    assert not events("repo.take_down")


def test_licenses_are_protected_while_repos_use_them(personas, make_repo):
    make_repo(gating="auto")
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        License.objects.filter(pk=personas.license.pk).delete()
