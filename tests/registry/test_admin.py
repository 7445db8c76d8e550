"""Django admin: every page loads with rows; actions go through services (audited); read-only where needed."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from registry.models import (
    ApiKey,
    AuditEvent,
    Blob,
    Branch,
    Commit,
    License,
    LicenseAcceptance,
    Membership,
    ModelRepo,
    Organization,
    RepoBlob,
    Tag,
)
from registry.services.commits import AddBlob, AddInline, commit_create
from registry.services.keys import api_key_create
from registry.services.licenses import license_accept
from registry.services.refs import tag_create
from registry.storage import blob_key
from tests.fixtures.personas import make_user


@pytest.fixture
def superuser(db):  # noqa: ANN001, ANN201
    return make_user("root", is_superuser=True, is_staff=True)


@pytest.fixture
def admin_client(client, superuser):  # noqa: ANN001, ANN201
    client.force_login(superuser)
    return client


@pytest.fixture
def hub(personas, make_repo):  # noqa: ANN001, ANN201
    """At least one row of every registry model."""
    content = b"\x00weights" * 20
    sha = hashlib.sha256(content).hexdigest()
    now = timezone.now()
    blob = Blob.objects.create(sha256=sha, size=len(content), storage_key=blob_key(sha),
                               state=Blob.State.VERIFIED, uploaded_at=now, verified_at=now)
    public = make_repo("public")
    manual = make_repo("manual", gating="manual")
    RepoBlob.objects.create(repo=public, blob=blob, source=RepoBlob.Source.UPLOAD)
    commit_create(actor=personas.owner, repo=public, title="weights", operations=[
        AddInline("README.md", b"---\ntags: [x]\n---\n# Hi\n"),
        AddBlob("model.safetensors", sha, len(content))])
    tag_create(actor=personas.owner, repo=public, name="v1")
    request = license_accept(user=personas.outsider, repo=manual)
    key, _ = api_key_create(user=personas.member, name="ci", scopes=["read", "write"])
    return {"public": public, "manual": manual, "blob": blob, "request": request, "key": key}


def changelist(model) -> str:  # noqa: ANN001
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change(obj) -> str:  # noqa: ANN001
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


REGISTRY_MODELS = [Organization, Membership, License, ModelRepo, LicenseAcceptance, ApiKey, AuditEvent,
                   Commit, Blob, Branch, Tag]


@pytest.mark.parametrize("model", REGISTRY_MODELS, ids=lambda m: m.__name__)
def test_changelist_loads_with_rows(admin_client, hub, model):
    assert model.objects.exists()
    response = admin_client.get(changelist(model))
    assert response.status_code == 200
    assert response.context["cl"].result_count == model.objects.count()


@pytest.mark.parametrize("model", REGISTRY_MODELS, ids=lambda m: m.__name__)
def test_change_page_loads(admin_client, hub, model):
    response = admin_client.get(change(model.objects.first()))
    assert response.status_code == 200


def test_every_registered_changelist_loads(admin_client, hub):
    """Models registered by other parts of the hub too (validation, releases, users…)."""
    for model in admin.site._registry:
        response = admin_client.get(changelist(model))
        assert response.status_code == 200, model


def test_changelist_search_and_filters_work(admin_client, hub):
    assert admin_client.get(changelist(ModelRepo), {"q": "public"}).context["cl"].result_count == 1
    filtered = admin_client.get(changelist(ModelRepo), {"gating__exact": "manual"})
    assert filtered.context["cl"].result_count == 1
    assert admin_client.get(changelist(AuditEvent), {"action": "repo.create"}).status_code == 200


@pytest.mark.parametrize("who", ["owner", "outsider"])
def test_non_staff_cannot_open_the_admin(client, hub, personas, who):
    client.force_login(getattr(personas, who))
    response = client.get(changelist(ModelRepo))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_anonymous_is_sent_to_the_admin_login(client, hub):
    response = client.get(changelist(ModelRepo))
    assert response.status_code == 302


# --- actions --------------------------------------------------------------------------------

def _action(client, model, action: str, objs) -> object:  # noqa: ANN001
    return client.post(changelist(model), {"action": action, "_selected_action": [o.pk for o in objs]})


def test_take_down_and_restore_actions_are_audited(admin_client, hub, superuser):
    repos = [hub["public"], hub["manual"]]
    response = _action(admin_client, ModelRepo, "take_down", repos)
    assert response.status_code == 302
    assert all(ModelRepo.objects.get(pk=r.pk).disabled for r in repos)
    assert all(ModelRepo.objects.get(pk=r.pk).disabled_reason for r in repos)
    down = AuditEvent.objects.filter(action="repo.take_down")
    assert down.count() == 2
    assert {e.actor for e in down} == {superuser}
    assert all(e.ip == "127.0.0.1" for e in down)

    _action(admin_client, ModelRepo, "restore", repos[:1])
    assert not ModelRepo.objects.get(pk=repos[0].pk).disabled
    assert ModelRepo.objects.get(pk=repos[1].pk).disabled
    assert AuditEvent.objects.filter(action="repo.restore", actor=superuser).count() == 1


def test_approve_action_grants_access_and_is_audited(admin_client, hub, superuser):
    response = _action(admin_client, LicenseAcceptance, "approve", [hub["request"]])
    assert response.status_code == 302
    hub["request"].refresh_from_db()
    assert hub["request"].status == LicenseAcceptance.Status.ACCEPTED
    assert hub["request"].decided_by == superuser
    assert AuditEvent.objects.filter(action="license.approve", actor=superuser).count() == 1


def test_reject_action_is_audited(admin_client, hub, superuser):
    _action(admin_client, LicenseAcceptance, "reject", [hub["request"]])
    hub["request"].refresh_from_db()
    assert hub["request"].status == LicenseAcceptance.Status.REJECTED
    assert AuditEvent.objects.filter(action="license.reject", actor=superuser).count() == 1


def test_decide_action_reports_refusals_instead_of_crashing(client, hub, personas):
    """Staff who is not an admin of the owning org is refused by the service; the admin shows why."""
    staff = make_user("moderator", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_licenseacceptance",
                                                                       "change_licenseacceptance"]))
    client.force_login(staff)
    response = client.post(changelist(LicenseAcceptance),
                           {"action": "approve", "_selected_action": [hub["request"].pk]}, follow=True)
    assert response.status_code == 200
    hub["request"].refresh_from_db()
    assert hub["request"].status == LicenseAcceptance.Status.PENDING
    assert any("with the write or admin role can decide" in str(m) for m in response.context["messages"])


def test_revoke_key_action_is_audited(admin_client, hub, superuser):
    response = _action(admin_client, ApiKey, "revoke", [hub["key"]])
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=hub["key"].pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="api_key.revoke", actor=superuser).count() == 1


def test_license_text_edit_bumps_version_and_is_audited(admin_client, hub, personas, superuser):
    lic = personas.license
    response = admin_client.post(change(lic), {"slug": lic.slug, "name": "Renamed", "text": "# New terms",
                                               "url": ""})
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    lic.refresh_from_db()
    assert (lic.name, lic.text, lic.version) == ("Renamed", "# New terms", 2)
    assert AuditEvent.objects.filter(action="license.update", actor=superuser).count() == 1


def test_license_edit_without_text_change_keeps_the_version(admin_client, hub, personas):
    lic = personas.license
    admin_client.post(change(lic), {"slug": lic.slug, "name": "Renamed", "text": lic.text, "url": ""})
    lic.refresh_from_db()
    assert (lic.name, lic.version) == ("Renamed", 1)


# --- read-only pages ----------------------------------------------------------------------------

def test_audit_events_are_read_only(admin_client, hub):
    event = AuditEvent.objects.first()
    before = AuditEvent.objects.count()
    page = admin_client.get(change(event))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin_client.post(change(event), {"action": "tampered"}).status_code == 403
    delete_url = reverse("admin:registry_auditevent_delete", args=[event.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert admin_client.get(reverse("admin:registry_auditevent_add")).status_code == 403
    assert AuditEvent.objects.count() == before
    assert AuditEvent.objects.get(pk=event.pk).action == event.action


def test_api_key_add_is_not_offered(admin_client, hub):
    assert admin_client.get(reverse("admin:registry_apikey_add")).status_code == 403
    page = admin_client.get(changelist(ApiKey))
    assert reverse("admin:registry_apikey_add").encode() not in page.content


def test_api_key_page_never_shows_a_secret(admin_client, hub):
    page = admin_client.get(change(hub["key"]))
    assert page.status_code == 200
    assert hub["key"].prefix.encode() in page.content


@pytest.mark.parametrize("model", [Commit, Blob])
def test_commits_and_blobs_cannot_be_added(admin_client, hub, model):
    url = reverse(f"admin:registry_{model._meta.model_name}_add")
    assert admin_client.get(url).status_code == 403


def test_org_page_edits_memberships_inline(admin_client, hub, personas):
    page = admin_client.get(change(personas.org))
    assert page.status_code == 200
    assert Membership.objects.filter(organization=personas.org).count() == 3
    assert b"memberships-TOTAL_FORMS" in page.content


def test_inference_check_list_and_rerun_action_is_audited(
    admin_client, hub, superuser, django_capture_on_commit_callbacks
):
    from registry.models import InferenceCheck

    commit = hub["public"].commits.first()
    done = InferenceCheck.objects.create(repo=hub["public"], commit=commit, status="passed", device="cpu",
                                         metrics={"tokens_per_second": 12.5})
    listing = admin_client.get(changelist(InferenceCheck))
    assert listing.status_code == 200
    assert "12.5" in listing.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        response = _action(admin_client, InferenceCheck, "rerun", [done])
    assert response.status_code == 302
    pending = InferenceCheck.objects.filter(commit=commit, status="pending")
    assert pending.count() == 1
    assert AuditEvent.objects.filter(action="inference.rerun", actor=superuser).exists()


def _english_plural(name: str) -> str:
    last = name.split()[-1]
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return name + "es"
    if last.endswith("y") and last[-2:-1] not in set("aeiou"):
        return name[:-1] + "ies"
    return name + "s"


def test_every_model_has_an_english_plural(admin_client):
    """The admin index and its lists read "Branches" and "Release advisories", not Django's "Branchs"."""
    from django.apps import apps

    wrong = {f"{m._meta.label}: {m._meta.verbose_name_plural}" for m in apps.get_models()
             if str(m._meta.verbose_name_plural) != _english_plural(str(m._meta.verbose_name))}
    assert wrong == set()
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "Branches" in html and "Release advisories" in html
    assert "Branchs" not in html and "advisorys" not in html


def test_admin_titles_follow_site_name(admin_client, settings):
    settings.SITE_NAME = "Lab Models"
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "Lab Models administration" in html and "| Lab Models admin</title>" in html
    assert "Consortium Model Hub" not in html
