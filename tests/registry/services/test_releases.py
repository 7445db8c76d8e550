"""The release process: checklist, sign-off rules and quorum, publishing (tag, signed manifest, followers),
withdrawal with advisories to exactly the commit's downloaders."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from django.core import mail

from registry import signing
from registry.exceptions import Conflict, InvalidInput, PermissionDenied, RepoNotFound
from registry.models import (
    InferenceStatus,
    Membership,
    ModelRepo,
    Organization,
    Release,
    RepoFollow,
    Tag,
    ValidationStatus,
)
from registry.release_verify import verify_snapshot
from registry.services.commits import AddInline, commit_create
from registry.services.downloads import user_download_record
from registry.services.releases import (
    release_approve,
    release_publish,
    release_recheck,
    release_reject,
    release_request,
    release_send_advisories,
    release_waive_inference,
    release_withdraw,
)
from tests.fixtures.personas import make_user
from tests.fixtures.releases import CARD, CONFIG, WEIGHTS, checked, model_commit, request, snapshot


@pytest.fixture(autouse=True)
def _signing(signing_key):
    return signing_key


# --- checklist --------------------------------------------------------------------------------------------


def test_a_complete_request_is_pending_with_every_item_met(personas, ready):
    repo, commit = ready
    release = request(personas, repo)
    assert release.state == Release.State.PENDING and release.commit == commit
    assert [(item["key"], item["ok"]) for item in release.checklist] == [
        ("validation", True), ("inference", True), ("card", True), ("license", True)]


@pytest.mark.parametrize(("case", "key", "detail"), [
    ("validation failed", "validation", "validation is failed"),
    ("never validated", "validation", "never validated"),
    ("inference failed", "inference", "inference check failed"),
    ("no card", "card", "README.md is missing"),
    ("card without metadata", "card", "lacks: license, language, pipeline_tag"),
    ("no license", "license", "no license"),
])
def test_each_unmet_item_blocks_the_request_with_its_reason(personas, make_repo, case, key, detail):
    repo = make_repo("blocked")
    if case != "no license":
        repo.license = personas.license
        repo.save()
    card = {"no card": None, "card without metadata": b"# Just text\n"}.get(case, CARD)
    ops = [AddInline("config.json", CONFIG), AddInline("model.safetensors", WEIGHTS)]
    if card is not None:
        ops.append(AddInline("README.md", card))
    commit = commit_create(actor=personas.member, repo=repo, title="m", operations=ops)
    validation = {"validation failed": ValidationStatus.FAILED, "never validated": None}.get(case, "passed")
    checked(commit, validation=validation,
            inference=InferenceStatus.FAILED if case == "inference failed" else InferenceStatus.PASSED)
    release = request(personas, repo)
    assert release.state == Release.State.DRAFT
    unmet = [item for item in release.checklist if not item["ok"]]
    assert [item["key"] for item in unmet] == [key]
    assert detail in unmet[0]["detail"]


def test_a_repo_without_a_model_needs_no_inference_check(personas, make_repo):
    repo = make_repo("docs-only")
    repo.license = personas.license
    repo.save()
    checked(model_commit(personas, repo, model=False), inference=None)
    release = request(personas, repo)
    assert release.state == Release.State.PENDING
    assert release.checklist[1]["detail"] == "no transformers model to check"


def test_a_waiver_unblocks_a_failed_inference_check_and_needs_an_admin_and_a_reason(personas, make_repo, admins):
    repo = make_repo("waive")
    repo.license = personas.license
    repo.save()
    checked(model_commit(personas, repo), inference=InferenceStatus.FAILED)
    release = request(personas, repo)
    assert release.state == Release.State.DRAFT
    with pytest.raises(PermissionDenied):
        release_waive_inference(actor=personas.member, release=release, reason="flaky")
    with pytest.raises(InvalidInput):
        release_waive_inference(actor=admins["telco"], release=release, reason=" ")
    release = release_waive_inference(actor=admins["telco"], release=release, reason="GPU pool was down")
    assert release.state == Release.State.PENDING
    assert release.checklist[1] == {"key": "inference", "label": release.checklist[1]["label"], "ok": True,
                                    "detail": "waived by telco-admin: GPU pool was down",
                                    "detail_msgid": "waived by %(by)s: %(reason)s",
                                    "detail_args": {"by": "telco-admin", "reason": "GPU pool was down"}}


def test_a_blocked_request_is_pending_once_rechecked_after_the_fix(personas, make_repo):
    repo = make_repo("late")
    repo.license = personas.license
    repo.save()
    commit = model_commit(personas, repo)
    release = request(personas, repo)
    assert release.state == Release.State.DRAFT
    checked(commit)
    assert release_recheck(release=release).state == Release.State.PENDING


def test_requests_need_write_access_a_semver_and_a_free_version(personas, ready):
    repo, _ = ready
    with pytest.raises(PermissionDenied):
        release_request(actor=personas.reader, repo=repo, version="1.0.0", revision="main", title="x")
    with pytest.raises(RepoNotFound):  # private: an outsider learns nothing, not even that it exists
        release_request(actor=personas.outsider, repo=repo, version="1.0.0", revision="main", title="x")
    with pytest.raises(InvalidInput, match="semantic version"):
        request(personas, repo, version="1.0")
    request(personas, repo, version="v1.0.0-rc.1")  # a leading v is dropped
    with pytest.raises(Conflict, match="already has a release 1.0.0-rc.1"):
        request(personas, repo, version="1.0.0-rc.1")


# --- sign-off -----------------------------------------------------------------------------------------------


def test_only_consortium_admins_other_than_the_requester_sign_off(personas, ready, admins):
    repo, _ = ready
    release = request(personas, repo)
    for user in (personas.member, personas.reader):
        with pytest.raises(PermissionDenied):
            release_approve(actor=user, release=release)
    with pytest.raises(RepoNotFound):  # the repo is private: to an outsider it does not exist
        release_approve(actor=personas.outsider, release=release)
    Membership.objects.filter(user=personas.member).update(role=Membership.Role.ADMIN)
    with pytest.raises(PermissionDenied, match="requested it"):
        release_approve(actor=personas.member, release=release)
    Organization.objects.filter(slug="telco").update(is_consortium_member=False)
    with pytest.raises(PermissionDenied):
        release_approve(actor=admins["telco"], release=release)


def test_a_private_repos_release_is_reviewed_only_by_consortium_admins_who_may_read_it(personas, ready, make_repo):
    """Administering some consortium organisation reaches no further than the repos one can read (issue 15)."""
    repo, _ = ready
    rival_org = Organization.objects.create(slug="rival", name="Rival")
    rival = make_user("rival-admin")
    Membership.objects.create(user=rival, organization=rival_org, role=Membership.Role.ADMIN)
    release = request(personas, repo)
    attempts = [
        lambda: release_approve(actor=rival, release=release),
        lambda: release_reject(actor=rival, release=release, reason="mine"),
        lambda: release_waive_inference(actor=rival, release=release, reason="mine"),
    ]
    for attempt in attempts:
        with pytest.raises(RepoNotFound):
            attempt()
    release.refresh_from_db()
    assert (release.state, release.inference_waiver_reason, release.decisions.count()) == ("pending", "", 0)
    # Once acme lets the rival organisation's admin read its repos, they can sign off.
    Membership.objects.create(user=rival, organization=personas.org, role=Membership.Role.READ)
    assert release_approve(actor=rival, release=release).state == Release.State.APPROVED
    # A public repo needs no such invitation: any consortium admin signs its releases off.
    public = make_repo("open")
    public.license = personas.license
    public.save()
    checked(model_commit(personas, public))
    Membership.objects.filter(user=rival, organization=personas.org).delete()
    assert release_approve(actor=rival, release=request(personas, public)).state == Release.State.APPROVED


def test_one_approval_publishes_by_default(personas, ready, admins, django_capture_on_commit_callbacks,
                                           monkeypatch):
    repo, _ = ready
    queued = []
    monkeypatch.setattr("registry.services.releases._queue_publish", queued.append)
    release = request(personas, repo)
    with django_capture_on_commit_callbacks(execute=True):
        release = release_approve(actor=admins["telco"], release=release, reason="looks good")
    assert release.state == Release.State.APPROVED and queued == [release.pk]
    with pytest.raises(Conflict, match="nothing to decide"):
        release_approve(actor=admins["chips"], release=release)


def test_quorum_of_two_needs_two_organisations_not_only_the_owners(personas, ready, admins, settings):
    settings.RELEASE_APPROVALS_REQUIRED = 2
    repo, _ = ready
    release = request(personas, repo)
    # two admins of the owning organisation alone are not enough
    acme_admin2 = make_user("acme-admin2")
    Membership.objects.create(user=acme_admin2, organization=personas.org, role=Membership.Role.ADMIN)
    assert release_approve(actor=personas.owner, release=release).state == Release.State.PENDING
    assert release_approve(actor=acme_admin2, release=release).state == Release.State.PENDING
    assert release_approve(actor=admins["telco"], release=release).state == Release.State.APPROVED


def test_a_blocked_release_cannot_be_approved_and_a_rejection_needs_a_reason(personas, make_repo, admins):
    repo = make_repo("noapprove")
    model_commit(personas, repo)
    release = request(personas, repo)
    with pytest.raises(Conflict, match="blocked by its checklist"):
        release_approve(actor=admins["telco"], release=release)
    with pytest.raises(InvalidInput):
        release_reject(actor=admins["telco"], release=release, reason="")


def test_a_rejection_is_final_and_recorded(personas, ready, admins):
    repo, _ = ready
    release = release_reject(actor=admins["telco"], release=request(personas, repo), reason="card is thin")
    assert (release.state, release.rejected_reason) == (Release.State.REJECTED, "card is thin")
    assert release.decisions.get().organization.slug == "telco"
    with pytest.raises(Conflict):
        release_approve(actor=admins["chips"], release=release)


# --- publishing -------------------------------------------------------------------------------------------


def approved(personas, repo, admins, version="1.0.0"):
    release = request(personas, repo, version=version)
    return release_approve(actor=admins["telco"], release=release)


def test_publishing_tags_signs_publishes_and_emails_followers_once(personas, ready, admins, signing_key,
                                                                   django_capture_on_commit_callbacks, settings):
    settings.SITE_NAME, settings.SITE_URL = "Lab Models", "https://models.lab.example"
    repo, commit = ready
    follower = make_user("fan")
    RepoFollow.objects.create(user=follower, repo=repo)
    release = approved(personas, repo, admins)
    with django_capture_on_commit_callbacks(execute=True):
        release = release_publish(release_id=release.pk)
    assert release.state == Release.State.PUBLISHED and release.publish_error == ""
    assert Tag.objects.get(repo=repo, name="v1.0.0").commit == commit
    assert ModelRepo.objects.get(pk=repo.pk).private is False

    manifest = json.loads(bytes(release.manifest))
    assert (manifest["repo"], manifest["version"], manifest["commit"]) == ("acme/tiny", "1.0.0", commit.oid)
    files = snapshot(commit)
    assert {"README.md", "config.json", "model.safetensors"} <= set(files)
    assert manifest["files"] == [
        {"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for p, b in sorted(files.items())]
    assert manifest["approvals"][0]["organization"] == "telco"
    assert manifest["inference"]["metrics"] == {"tokens_per_second": 42.0}
    public = signing_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    assert signing.verify(bytes(release.manifest), release.signature, public)
    assert [m.to for m in mail.outbox] == [["fan@example.com"]]
    assert "release 1.0.0" in mail.outbox[0].subject and mail.outbox[0].subject.startswith("[Lab Models] ")
    assert "https://models.lab.example/acme/tiny/releases/1.0.0" in mail.outbox[0].body
    assert mail.outbox[0].body.rstrip().endswith("Lab Models\nhttps://models.lab.example")
    assert "example.com" not in mail.outbox[0].body.replace("fan@example.com", "")

    with django_capture_on_commit_callbacks(execute=True):
        again = release_publish(release_id=release.pk)
    assert bytes(again.manifest) == bytes(release.manifest) and len(mail.outbox) == 1


def test_a_tag_on_another_commit_stops_publishing_with_a_reason(personas, ready, admins):
    repo, commit = ready
    release = approved(personas, repo, admins)
    other = commit_create(actor=personas.member, repo=repo, title="later", operations=[AddInline("x.txt", b"x")])
    Tag.objects.create(repo=repo, name="v1.0.0", commit=other)
    release = release_publish(release_id=release.pk)
    assert release.state == Release.State.APPROVED and "already points at another commit" in release.publish_error


def test_without_a_signing_key_publishing_waits_with_a_reason(personas, ready, admins, settings):
    settings.RELEASE_SIGNING_KEY = ""
    settings.DEBUG = False
    repo, _ = ready
    release = release_publish(release_id=approved(personas, repo, admins).pk)
    assert release.state == Release.State.APPROVED and "RELEASE_SIGNING_KEY" in release.publish_error
    assert not Tag.objects.filter(repo=repo).exists()


# --- verification --------------------------------------------------------------------------------------------


def test_a_snapshot_verifies_and_tampering_is_reported_precisely(personas, ready, admins, signing_key, tmp_path):
    repo, _ = ready
    release = release_publish(release_id=approved(personas, repo, admins).pk)
    for name, body in snapshot(release.commit).items():
        (tmp_path / name).write_bytes(body)
    public = signing.signing_public_key_pem()
    manifest = bytes(release.manifest)
    assert verify_snapshot(manifest=manifest, signature_b64=release.signature, public_pem=public,
                           directory=tmp_path).ok

    (tmp_path / "config.json").write_bytes(CONFIG.replace(b"llama", b"LLAMA"))
    (tmp_path / "extra.bin").write_bytes(b"?")
    report = verify_snapshot(manifest=manifest, signature_b64=release.signature, public_pem=public, directory=tmp_path)
    assert report.signature_ok and not report.ok
    assert [p.split(":")[0] for p in report.problems] == ["config.json", "extra.bin"]
    assert "sha256" in report.problems[0]

    forged = manifest.replace(hashlib.sha256(CONFIG).hexdigest().encode(),
                              hashlib.sha256(CONFIG.replace(b"llama", b"LLAMA")).hexdigest().encode())
    report = verify_snapshot(manifest=forged, signature_b64=release.signature, public_pem=public, directory=tmp_path)
    assert not report.signature_ok and "signature is not valid" in report.problems[0]


# --- withdrawal -----------------------------------------------------------------------------------------------


def test_withdrawal_warns_exactly_the_commits_downloaders_once(personas, ready, admins,
                                                               django_capture_on_commit_callbacks, monkeypatch):
    repo, commit = ready
    release = release_publish(release_id=approved(personas, repo, admins).pk)
    later = commit_create(actor=personas.member, repo=repo, title="later", operations=[AddInline("y.txt", b"y")])
    users = {name: make_user(name) for name in ("dl1", "dl2", "other", "noemail")}
    users["noemail"].email = ""
    users["noemail"].save()
    for name in ("dl1", "dl2", "noemail"):
        user_download_record(repo_id=repo.pk, commit_id=commit.pk, user_id=users[name].pk, api_key_id=None, ip=None)
    user_download_record(repo_id=repo.pk, commit_id=later.pk, user_id=users["other"].pk, api_key_id=None, ip=None)
    mail.outbox.clear()
    monkeypatch.setattr("registry.services.releases._queue_advisories",
                        lambda release_id: release_send_advisories(release_id=release_id))

    with pytest.raises(PermissionDenied):
        release_withdraw(actor=personas.member, release=release, reason="bad")
    with django_capture_on_commit_callbacks(execute=True):
        release = release_withdraw(actor=admins["chips"], release=release, reason="Leaks training data")
    assert release.state == Release.State.WITHDRAWN and release.withdrawn_reason == "Leaks training data"
    assert sorted(m.to[0] for m in mail.outbox) == ["dl1@example.com", "dl2@example.com"]
    assert all("Leaks training data" in m.body and commit.oid in m.body for m in mail.outbox)
    assert all(m.subject.startswith("[Consortium Model Hub] acme/tiny: advisory") for m in mail.outbox)
    assert release_send_advisories(release_id=release.pk) == 0 and len(mail.outbox) == 2
    assert Tag.objects.filter(repo=repo, name="v1.0.0").exists() and release.manifest
    with pytest.raises(Conflict):
        release_withdraw(actor=admins["chips"], release=release, reason="again")
