"""License acceptance for gated repos: auto and manual gating, decisions, new versions, can_download."""

from __future__ import annotations

import pytest

from registry.exceptions import InvalidInput, NotAuthenticated, PermissionDenied, RepoNotFound
from registry.models import AuditEvent, LicenseAcceptance, ModelRepo
from registry.permissions import can_download
from registry.services.licenses import license_accept, license_decide, license_update_text
from tests.fixtures.personas import make_user

PERSONAS = ["owner", "member", "reader", "outsider", "anonymous"]


@pytest.fixture
def staff(db):  # noqa: ANN001, ANN201
    return make_user("moderator", is_staff=True)


# --- accepting ---------------------------------------------------------------------------------

def test_auto_gating_accepts_at_once(personas, make_repo):
    repo = make_repo(gating="auto")
    acceptance = license_accept(user=personas.outsider, repo=repo, ip="10.0.0.3")
    assert acceptance.status == LicenseAcceptance.Status.ACCEPTED
    assert acceptance.license == personas.license
    assert acceptance.license_version == personas.license.version
    assert acceptance.decided_at is not None
    assert acceptance.ip == "10.0.0.3"
    event = AuditEvent.objects.get(action="license.accept")
    assert event.actor == personas.outsider
    assert event.metadata == {"license_version": 1, "status": "accepted"}
    assert can_download(personas.outsider, repo)


def test_manual_gating_leaves_request_pending(personas, make_repo):
    repo = make_repo(gating="manual")
    acceptance = license_accept(user=personas.outsider, repo=repo)
    assert acceptance.status == LicenseAcceptance.Status.PENDING
    assert acceptance.decided_at is None
    assert not can_download(personas.outsider, repo)


def test_accepting_twice_keeps_one_record_and_one_event(personas, make_repo):
    repo = make_repo(gating="auto")
    first = license_accept(user=personas.outsider, repo=repo)
    second = license_accept(user=personas.outsider, repo=repo)
    assert first.pk == second.pk
    assert LicenseAcceptance.objects.count() == 1
    assert AuditEvent.objects.filter(action="license.accept").count() == 1


def test_anonymous_must_sign_in_to_accept(personas, make_repo):
    repo = make_repo(gating="auto")
    with pytest.raises(NotAuthenticated):
        license_accept(user=personas.anonymous, repo=repo)


def test_outsider_cannot_accept_on_a_private_repo(personas, make_repo):
    repo = make_repo(gating="auto", private=True)
    with pytest.raises(RepoNotFound):
        license_accept(user=personas.outsider, repo=repo)


def test_ungated_repo_needs_no_acceptance(personas, make_repo):
    repo = make_repo()
    with pytest.raises(InvalidInput):
        license_accept(user=personas.outsider, repo=repo)


QUESTIONS = [
    {"name": "company", "label": "Company", "type": "text", "required": True},
    {"name": "terms", "label": "I agree", "type": "checkbox", "required": True},
    {"name": "note", "label": "Note", "type": "text", "required": False},
]


def _gated_with_questions(make_repo, gating="manual"):  # noqa: ANN001, ANN202
    repo = make_repo(gating=gating)
    ModelRepo.objects.filter(pk=repo.pk).update(gating_fields=QUESTIONS)
    repo.refresh_from_db()
    return repo


@pytest.mark.parametrize("answers", [
    {}, {"company": "ACME"}, {"terms": True}, {"company": "   ", "terms": True},
    {"company": "ACME", "terms": False},
])
def test_required_answers_are_enforced(personas, make_repo, answers):
    repo = _gated_with_questions(make_repo)
    with pytest.raises(InvalidInput):
        license_accept(user=personas.outsider, repo=repo, answers=answers)
    assert not LicenseAcceptance.objects.exists()


def test_answers_are_cleaned_and_stored(personas, make_repo):
    repo = _gated_with_questions(make_repo)
    acceptance = license_accept(user=personas.outsider, repo=repo,
                                answers={"company": "  ACME  ", "terms": "on", "extra": "dropped"})
    assert acceptance.answers == {"company": "ACME", "terms": True, "note": ""}


def test_answers_must_be_a_mapping(personas, make_repo):
    repo = _gated_with_questions(make_repo)
    with pytest.raises(InvalidInput):
        license_accept(user=personas.outsider, repo=repo, answers=["company"])


# --- deciding ---------------------------------------------------------------------------------

def test_org_admin_approves_pending_request(personas, make_repo):
    repo = make_repo(gating="manual")
    acceptance = license_accept(user=personas.outsider, repo=repo)
    license_decide(actor=personas.owner, acceptance=acceptance, approve=True, ip="10.0.0.4")
    acceptance.refresh_from_db()
    assert acceptance.status == LicenseAcceptance.Status.ACCEPTED
    assert acceptance.decided_by == personas.owner
    assert acceptance.decided_at is not None
    event = AuditEvent.objects.get(action="license.approve")
    assert event.metadata == {"user": "oscar", "license_version": 1}
    assert can_download(personas.outsider, repo)


def test_org_admin_rejects_and_the_user_cannot_reapprove_themselves(personas, make_repo):
    repo = make_repo(gating="manual")
    acceptance = license_accept(user=personas.outsider, repo=repo)
    license_decide(actor=personas.owner, acceptance=acceptance, approve=False)
    assert AuditEvent.objects.filter(action="license.reject").count() == 1
    again = license_accept(user=personas.outsider, repo=repo)
    assert again.status == LicenseAcceptance.Status.REJECTED
    assert not can_download(personas.outsider, repo)


def test_superuser_decides_requests(personas, make_repo):
    root = make_user("root", is_superuser=True, is_staff=True)
    repo = make_repo(gating="manual")
    acceptance = license_accept(user=personas.outsider, repo=repo)
    license_decide(actor=root, acceptance=acceptance, approve=True)
    assert LicenseAcceptance.objects.get().status == LicenseAcceptance.Status.ACCEPTED


@pytest.mark.parametrize("who", ["owner", "member"])
def test_org_writers_and_admins_decide(personas, make_repo, who):
    repo = make_repo(gating="manual")
    acceptance = license_accept(user=make_user("requester"), repo=repo)
    license_decide(actor=getattr(personas, who), acceptance=acceptance, approve=False)
    assert LicenseAcceptance.objects.get().status == LicenseAcceptance.Status.REJECTED
    assert AuditEvent.objects.get(action="license.reject").actor == getattr(personas, who)


@pytest.mark.parametrize("who", ["reader", "outsider", "anonymous"])
def test_only_org_writers_and_admins_decide(personas, make_repo, who):
    repo = make_repo(gating="manual")
    requester = make_user("requester")
    acceptance = license_accept(user=requester, repo=repo)
    with pytest.raises(PermissionDenied):
        license_decide(actor=getattr(personas, who), acceptance=acceptance, approve=True)
    assert LicenseAcceptance.objects.get().status == LicenseAcceptance.Status.PENDING
    assert not AuditEvent.objects.filter(action__in=["license.approve", "license.reject"]).exists()


def test_user_namespace_owner_decides_requests_for_own_repo(personas):
    from registry.services.repos import repo_create

    repo = repo_create(actor=personas.outsider, namespace="oscar", name="m", gating="manual",
                       license=personas.license)
    acceptance = license_accept(user=personas.member, repo=repo)
    license_decide(actor=personas.outsider, acceptance=acceptance, approve=True)
    assert can_download(personas.member, repo)


# --- license versions --------------------------------------------------------------------------

def test_new_license_version_requires_acceptance_again(personas, make_repo, staff):
    repo = make_repo(gating="auto")
    license_accept(user=personas.outsider, repo=repo)
    assert can_download(personas.outsider, repo)
    license_update_text(actor=staff, license=personas.license, text="# Terms\nBe very nice.")
    personas.license.refresh_from_db()
    assert personas.license.version == 2
    repo.refresh_from_db()
    assert not can_download(personas.outsider, repo)
    acceptance = license_accept(user=personas.outsider, repo=repo)
    assert acceptance.license_version == 2
    assert LicenseAcceptance.objects.filter(user=personas.outsider, repo=repo).count() == 2
    assert can_download(personas.outsider, repo)
    event = AuditEvent.objects.get(action="license.update")
    assert event.actor == staff and event.metadata == {"version": 2}


def test_unchanged_license_text_keeps_the_version(personas, staff):
    license_update_text(actor=staff, license=personas.license, text=personas.license.text)
    personas.license.refresh_from_db()
    assert personas.license.version == 1
    assert not AuditEvent.objects.filter(action="license.update").exists()


@pytest.mark.parametrize("who", ["owner", "member", "reader", "outsider", "anonymous"])
def test_only_staff_change_license_texts(personas, who):
    with pytest.raises(PermissionDenied):
        license_update_text(actor=getattr(personas, who), license=personas.license, text="new")
    personas.license.refresh_from_db()
    assert personas.license.version == 1


# --- can_download matrix -----------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "expected"), [
    # owner, member, reader, outsider, anonymous — before anyone accepted anything
    ("public-open", [True, True, True, True, True]),
    ("public-auto", [True, True, True, False, False]),
    ("public-manual", [True, True, True, False, False]),
    ("private-open", [True, True, True, False, False]),
    ("private-auto", [True, True, True, False, False]),
])
def test_can_download_matrix(personas, make_repo, kind, expected):
    visibility, gating = kind.split("-")
    repo = make_repo(private=visibility == "private", gating="none" if gating == "open" else gating)
    assert [can_download(getattr(personas, who), repo) for who in PERSONAS] == expected


def test_can_download_for_superuser_everywhere(personas, make_repo):
    root = make_user("root", is_superuser=True, is_staff=True)
    for repo in (make_repo("a", gating="manual"), make_repo("b", private=True, gating="auto")):
        assert can_download(root, repo)


def test_can_download_after_acceptance_depends_on_status_and_visibility(personas, make_repo):
    auto = make_repo("auto", gating="auto")
    manual = make_repo("manual", gating="manual")
    license_accept(user=personas.outsider, repo=auto)
    license_accept(user=personas.outsider, repo=manual)
    assert can_download(personas.outsider, auto)
    assert not can_download(personas.outsider, manual)
    # An acceptance doesn't open a repo the user can't see.
    private = make_repo("private", gating="auto")
    license_accept(user=personas.outsider, repo=private)
    ModelRepo.objects.filter(pk=private.pk).update(private=True)
    private.refresh_from_db()
    assert not can_download(personas.outsider, private)


def test_acceptance_on_one_repo_does_not_open_another(personas, make_repo):
    a = make_repo("a", gating="auto")
    b = make_repo("b", gating="auto")
    license_accept(user=personas.outsider, repo=a)
    assert not can_download(personas.outsider, b)


# --- the HF API's handling: cancel, reasons, grants -------------------------------------------------------------


def test_cancelling_a_decision_puts_the_request_back_in_the_queue(personas, make_repo):
    from registry.services.licenses import access_request_set_status

    repo = make_repo(gating="manual")
    acceptance = license_accept(user=personas.outsider, repo=repo)
    license_decide(actor=personas.owner, acceptance=acceptance, approve=True)
    assert can_download(personas.outsider, repo)
    access_request_set_status(actor=personas.owner, acceptance=acceptance, status="pending", ip="10.0.0.9")
    acceptance.refresh_from_db()
    assert (acceptance.status, acceptance.decided_at, acceptance.decided_by) == ("pending", None, None)
    assert not can_download(personas.outsider, repo)
    event = AuditEvent.objects.get(action="license.cancel")
    assert event.actor == personas.owner and event.ip == "10.0.0.9" and event.metadata["user"] == "oscar"


def test_a_rejection_reason_is_recorded_and_bounded(personas, make_repo):
    from registry.services.licenses import access_request_set_status

    repo = make_repo(gating="manual")
    acceptance = license_accept(user=personas.outsider, repo=repo)
    with pytest.raises(InvalidInput):
        access_request_set_status(actor=personas.owner, acceptance=acceptance, status="rejected",
                                  rejection_reason="x" * 201)
    with pytest.raises(InvalidInput):  # only a rejection carries a reason
        access_request_set_status(actor=personas.owner, acceptance=acceptance, status="accepted",
                                  rejection_reason="why")
    with pytest.raises(InvalidInput):
        access_request_set_status(actor=personas.owner, acceptance=acceptance, status="maybe")
    access_request_set_status(actor=personas.owner, acceptance=acceptance, status="rejected",
                              rejection_reason="Not a\nmember")
    assert AuditEvent.objects.get(action="license.reject").metadata["rejection_reason"] == "Not a member"


def test_a_write_member_grants_access(personas, make_repo):
    from registry.services.licenses import access_grant

    repo = make_repo(gating="manual")
    access_grant(actor=personas.member, repo=repo, user=personas.outsider)
    assert LicenseAcceptance.objects.get(user=personas.outsider).status == LicenseAcceptance.Status.ACCEPTED


@pytest.mark.parametrize("who", ["reader", "outsider"])
def test_only_writers_and_admins_grant_access(personas, make_repo, who):
    from registry.services.licenses import access_grant

    repo = make_repo(gating="manual")
    with pytest.raises(PermissionDenied):
        access_grant(actor=getattr(personas, who), repo=repo, user=personas.outsider)
    assert not LicenseAcceptance.objects.exists()


def test_a_grant_turns_a_pending_or_rejected_request_accepted_once(personas, make_repo):
    from registry.services.licenses import access_grant

    repo = make_repo(gating="manual")
    acceptance = license_accept(user=personas.outsider, repo=repo)
    license_decide(actor=personas.owner, acceptance=acceptance, approve=False)
    access_grant(actor=personas.owner, repo=repo, user=personas.outsider)
    assert LicenseAcceptance.objects.get().status == "accepted" and can_download(personas.outsider, repo)
    with pytest.raises(InvalidInput, match="already has access"):
        access_grant(actor=personas.owner, repo=repo, user=personas.outsider)
    with pytest.raises(InvalidInput, match="not gated"):
        access_grant(actor=personas.owner, repo=make_repo("open"), user=personas.outsider)
    assert AuditEvent.objects.filter(action="license.grant").count() == 1
