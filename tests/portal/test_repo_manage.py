"""Writers' pages: repo settings, deletion, per-licensee download records, a new repo, editing the card,
uploading files; and the model page's 30-day download chart."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from registry.models import (
    AuditEvent,
    Branch,
    Commit,
    CommitFile,
    DownloadDay,
    License,
    LicenseAcceptance,
    ModelRepo,
    UserDownload,
)
from registry.services.commits import AddInline, commit_create
from registry.services.licenses import license_accept
from tests.fixtures.personas import make_user

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "outsider", "reader", "member", "owner"]


def _status(as_user, personas, who, url, method="get", data=None):
    client = as_user(getattr(personas, who))
    return getattr(client, method)(url, data or {}).status_code


# --- settings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who, public, private", [
    ("anonymous", 302, 302), ("outsider", 403, 404), ("reader", 403, 403), ("member", 200, 200),
    ("owner", 200, 200),
])
def test_settings_page_permissions(as_user, personas, seed, who, public, private):
    assert _status(as_user, personas, who, "/acme/tiny/settings") == public
    assert _status(as_user, personas, who, "/acme/secret-model/settings") == private


def test_settings_tab_only_for_writers(as_user, personas, seed):
    assert b'href="/acme/tiny/settings"' in as_user(personas.member).get("/acme/tiny").content
    assert b'href="/acme/tiny/settings"' not in as_user(personas.reader).get("/acme/tiny").content
    assert b'href="/acme/tiny/settings"' not in as_user(personas.anonymous).get("/acme/tiny").content


def test_writer_changes_visibility_gating_license_and_questions(as_user, personas, seed):
    response = as_user(personas.member).post("/acme/tiny/settings", {
        "private": "on", "gating": "manual", "license": "acme-license",
        "gating_fields": "company|Company|text|required\ncountry|Country|country\nuse|Use|select:research,commercial",
    }, follow=True)
    assert response.status_code == 200 and "Settings saved." in response.content.decode()
    repo = ModelRepo.objects.get(pk=seed.public.pk)
    assert repo.private and repo.gating == "manual" and repo.license == personas.license
    assert repo.gating_fields == [
        {"name": "company", "label": "Company", "type": "text", "required": True},
        {"name": "country", "label": "Country", "type": "country", "required": False},
        {"name": "use", "label": "Use", "type": "select", "options": ["research", "commercial"], "required": False},
    ]
    assert AuditEvent.objects.filter(action="repo.update_settings", actor=personas.member).exists()
    # The form shows the saved questions in the same one-per-line format.
    page = as_user(personas.member).get("/acme/tiny/settings").content.decode()
    assert "company|Company|text|required" in page and "use|Use|select:research,commercial" in page


@pytest.mark.parametrize("fields, message", [
    ("company", "name|label|type|required"),
    ("company|Company|date", "type must be"),
    ("a b|Company", "letters, digits"),
    ("x|X\nx|Y", "used twice"),
    ("x|X|select:", "needs options"),
    ("x|X|text|maybe", "required or optional"),
])
def test_bad_questions_are_explained_and_nothing_changes(as_user, personas, seed, fields, message):
    response = as_user(personas.owner).post("/acme/gated-manual/settings", {
        "gating": "manual", "license": "acme-license", "gating_fields": fields})
    assert response.status_code == 400
    assert message in response.content.decode()
    seed.manual.refresh_from_db()
    assert [f["name"] for f in seed.manual.gating_fields] == ["company", "research"]


def test_gated_without_license_is_refused(as_user, personas, seed):
    response = as_user(personas.owner).post("/acme/tiny/settings", {"gating": "auto", "license": ""})
    assert response.status_code == 400
    assert "needs a license" in response.content.decode()
    seed.public.refresh_from_db()
    assert seed.public.gating == "none"


def test_reader_cannot_post_settings(as_user, personas, seed):
    assert as_user(personas.reader).post("/acme/tiny/settings", {"private": "on", "gating": "none"}).status_code == 403
    seed.public.refresh_from_db()
    assert not seed.public.private


# --- delete --------------------------------------------------------------------------------------------------


def test_delete_needs_the_typed_name(as_user, personas, seed):
    client = as_user(personas.owner)
    response = client.post("/acme/tiny/settings/delete", {"confirm": "tiny"})
    assert response.status_code == 400 and "acme/tiny" in response.content.decode()
    assert ModelRepo.objects.filter(pk=seed.public.pk).exists()
    response = client.post("/acme/tiny/settings/delete", {"confirm": "acme/tiny"})
    assert response.status_code == 302 and response["Location"] == "/acme"
    assert not ModelRepo.objects.filter(pk=seed.public.pk).exists()
    assert client.get("/acme/tiny").status_code == 404
    assert AuditEvent.objects.filter(action="repo.delete", target_label="acme/tiny").exists()


@pytest.mark.parametrize("who, status", [("anonymous", 302), ("outsider", 404), ("reader", 403), ("member", 403)])
def test_only_admins_delete(as_user, personas, seed, who, status):
    assert _status(as_user, personas, who, "/acme/secret-model/settings/delete", "post",
                   {"confirm": "acme/secret-model"}) == status
    assert ModelRepo.objects.filter(pk=seed.private.pk).exists()


# --- per-licensee download records -----------------------------------------------------------------------------


def _downloads(repo, users):
    commit = Branch.objects.get(repo=repo, name="main").head
    now = timezone.now()
    for i, user in enumerate(users):
        UserDownload.objects.create(repo=repo, commit=commit, user=user, files=i + 1, ip=f"10.0.0.{i + 1}",
                                    first_at=now, last_at=now)


@pytest.mark.parametrize("who, status", [
    ("anonymous", 302), ("outsider", 403), ("reader", 403), ("member", 403), ("owner", 200),
])
def test_download_records_only_for_org_admins(as_user, personas, seed, who, status):
    license_accept(user=personas.outsider, repo=seed.auto, ip="10.0.0.1")
    _downloads(seed.auto, [personas.outsider])
    response = as_user(getattr(personas, who)).get("/acme/gated-auto/settings/downloads")
    assert response.status_code == status
    if status != 200:
        assert b"10.0.0.1" not in response.content


def test_download_records_show_user_acceptance_commit_and_ip(as_user, personas, seed):
    license_accept(user=personas.outsider, repo=seed.manual, answers={"company": "Beta Labs"}, ip="10.0.0.1")
    _downloads(seed.manual, [personas.outsider])
    html = as_user(personas.owner).get("/acme/gated-manual/settings/downloads").content.decode()
    assert "oscar@example.com" in html and "Beta Labs" in html and "Pending review" in html
    assert "10.0.0.1" in html
    assert Branch.objects.get(repo=seed.manual, name="main").head.oid[:8] in html


def test_download_records_private_repo_is_404_to_outsiders(as_user, personas, seed):
    assert as_user(personas.outsider).get("/acme/secret-model/settings/downloads").status_code == 404


def test_download_records_query_count_is_constant(as_user, personas, seed, django_assert_max_num_queries):
    client = as_user(personas.owner)
    users = [make_user(f"d{i}") for i in range(12)]
    for user in users[:3]:
        license_accept(user=user, repo=seed.auto, answers={})
    _downloads(seed.auto, users[:3])
    with django_assert_max_num_queries(25) as few:
        client.get("/acme/gated-auto/settings/downloads")
    UserDownload.objects.all().delete()
    for user in users[3:]:
        license_accept(user=user, repo=seed.auto, answers={})
    _downloads(seed.auto, users)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/acme/gated-auto/settings/downloads")
    assert len(response.context["rows"]) == 12
    assert all(acceptance is not None for _row, acceptance in response.context["rows"])


def test_download_records_paginate(as_user, personas, seed):
    _downloads(seed.auto, [make_user(f"p{i}") for i in range(51)])
    client = as_user(personas.owner)
    assert len(client.get("/acme/gated-auto/settings/downloads").context["rows"]) == 50
    second = client.get("/acme/gated-auto/settings/downloads?page=2")
    assert len(second.context["rows"]) == 1 and "Page 2 of 2" in second.content.decode()


# --- download chart ----------------------------------------------------------------------------------------------


def test_model_page_shows_30_day_download_chart(client, personas, seed):
    today = timezone.now().date()
    DownloadDay.objects.create(repo=seed.public, day=today, count=7)
    DownloadDay.objects.create(repo=seed.public, day=today - datetime.timedelta(days=3), count=5)
    DownloadDay.objects.create(repo=seed.public, day=today - datetime.timedelta(days=30), count=100)  # too old
    DownloadDay.objects.create(repo=seed.auto, day=today, count=50)  # another repo
    response = client.get("/acme/tiny")
    chart = response.context["download_chart"]
    assert chart.total == 12 and chart.peak == 7 and len(chart.bars) == 30
    html = response.content.decode()
    assert '<svg class="chart-bars"' in html
    assert "12 downloads in the last 30 days; at most 7 on one day." in html  # the text alternative
    assert f"<td>{today:%Y-%m-%d}</td><td>7</td>" in html
    assert "<script" not in html.split('class="downloads-chart"')[1].split("</section>")[0]
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.day.day == today and tallest.height == chart.height - 2


def test_download_chart_with_no_downloads(client, personas, seed):
    chart = client.get("/acme/tiny").context["download_chart"]
    assert chart.total == 0 and all(b.height == 1 for b in chart.bars)


# --- new repo --------------------------------------------------------------------------------------------------


def test_new_repo_needs_sign_in(client, personas):
    assert client.get("/new").status_code == 302


def test_new_repo_offers_own_namespace_and_writable_orgs(as_user, personas):
    choices = dict(as_user(personas.member).get("/new").context["form"].fields["namespace"].choices)
    assert list(choices) == ["mina", "acme"]
    assert list(dict(as_user(personas.reader).get("/new").context["form"].fields["namespace"].choices)) == ["rae"]


def test_writer_creates_org_repo(as_user, personas):
    response = as_user(personas.member).post("/new", {"namespace": "acme", "name": "fresh", "private": "on",
                                                      "license": "acme-license"})
    assert response.status_code == 302 and response["Location"] == "/acme/fresh/edit/main/README.md"
    repo = ModelRepo.objects.get(namespace="acme", name="fresh")
    assert repo.private and repo.license == personas.license and repo.owner_org == personas.org


def test_reader_cannot_create_in_org(as_user, personas):
    response = as_user(personas.reader).post("/new", {"namespace": "acme", "name": "sneaky"})
    assert response.status_code == 400
    assert not ModelRepo.objects.filter(name="sneaky").exists()


@pytest.mark.parametrize("name, message", [("bad name", "not a valid name"), ("tiny", "already exists")])
def test_new_repo_bad_names(as_user, personas, seed, name, message):
    response = as_user(personas.owner).post("/new", {"namespace": "acme", "name": name})
    assert response.status_code == 400 and message in response.content.decode()


# --- editing the model card -------------------------------------------------------------------------------------


@pytest.mark.parametrize("who, public, private", [
    ("anonymous", 302, 302), ("outsider", 403, 404), ("reader", 403, 403), ("member", 200, 200),
])
def test_card_edit_permissions(as_user, personas, seed, who, public, private):
    assert _status(as_user, personas, who, "/acme/tiny/edit/main/README.md") == public
    assert _status(as_user, personas, who, "/acme/secret-model/edit/main/README.md") == private


def test_writer_edits_card_and_sees_it(as_user, personas, seed):
    client = as_user(personas.member)
    form = client.get("/acme/tiny/edit/main/README.md").context["form"]
    head = Branch.objects.get(repo=seed.public, name="main").head
    assert form.initial["parent"] == head.oid and "Tiny model" in form.initial["content"]
    response = client.post("/acme/tiny/edit/main/README.md", {
        "content": "---\nlicense: mit\n---\n# Better card\n\nNow with **details**.\n",
        "summary": "Improve the card", "parent": head.oid}, follow=True)
    assert response.status_code == 200
    assert "<strong>details</strong>" in response.content.decode()
    commit = Branch.objects.get(repo=seed.public, name="main").head
    assert commit.parent_id == head.pk and commit.title == "Improve the card" and commit.author == personas.member
    seed.public.refresh_from_db()
    assert seed.public.card_license == "mit"


def test_stale_card_edit_conflicts_readably(as_user, personas, seed):
    client = as_user(personas.member)
    old = Branch.objects.get(repo=seed.public, name="main").head.oid
    commit_create(actor=personas.owner, repo=seed.public, title="meanwhile",
                  operations=[AddInline("notes.txt", b"x")])
    response = client.post("/acme/tiny/edit/main/README.md", {"content": "# Mine\n", "parent": old})
    assert response.status_code == 409
    assert "Someone else committed to main" in response.content.decode()
    assert "# Mine" in response.content.decode()  # the text is kept in the form
    assert Branch.objects.get(repo=seed.public, name="main").head.title == "meanwhile"


def test_card_edit_on_a_tag_or_other_path_is_404(as_user, personas, seed):
    client = as_user(personas.member)
    assert client.get("/acme/tiny/edit/v1.0/README.md").status_code == 404
    assert client.get("/acme/tiny/edit/main/config.json").status_code == 404


def test_card_edit_on_a_branch_with_slash(as_user, personas, seed):
    response = as_user(personas.member).post("/acme/tiny/edit/feature/x/README.md", {"content": "# Feature\n"})
    assert response.status_code == 302
    assert Branch.objects.get(repo=seed.public, name="feature/x").head.title == "Update README.md"


# --- uploads ---------------------------------------------------------------------------------------------------


def test_upload_small_files_as_one_commit(as_user, personas, seed, local_store):
    client = as_user(personas.member)
    weights = bytes(range(256)) * 8
    response = client.post("/acme/tiny/upload/main", {
        "files": [SimpleUploadedFile("notes.md", b"# Notes\n"), SimpleUploadedFile("extra.bin", weights)],
        "folder": "docs", "summary": "Add docs",
    })
    assert response.status_code == 302 and response["Location"] == "/acme/tiny/tree/main"
    commit = Branch.objects.get(repo=seed.public, name="main").head
    assert commit.title == "Add docs"
    files = {f.path: f for f in CommitFile.objects.filter(commit=commit)}
    assert bytes(files["docs/notes.md"].content) == b"# Notes\n"  # small text: inline
    blob = files["docs/extra.bin"].blob  # binary: through the blob store
    assert blob.sha256 == hashlib.sha256(weights).hexdigest()
    assert b"".join(local_store.iter_bytes(blob.storage_key)) == weights


def test_upload_over_the_limit_points_to_the_cli(as_user, personas, seed, settings, local_store):
    settings.PORTAL_UPLOAD_MAX_BYTES = 1000
    client = as_user(personas.member)
    before = Commit.objects.count()
    response = client.post("/acme/tiny/upload/main", {
        "files": [SimpleUploadedFile("big.bin", b"\x01" * 5000), SimpleUploadedFile("ok.txt", b"fine")]})
    assert response.status_code == 413
    html = response.content.decode()
    assert "big.bin" in html and "hf upload acme/tiny" in html
    assert Commit.objects.count() == before  # nothing half-written


def test_upload_path_traversal_is_refused(as_user, personas, seed, local_store):
    response = as_user(personas.member).post("/acme/tiny/upload/main", {
        "files": [SimpleUploadedFile("x.txt", b"x")], "folder": "../../etc"})
    assert response.status_code == 400 and "must not contain" in response.content.decode()


@pytest.mark.parametrize("who, status", [("anonymous", 302), ("outsider", 404), ("reader", 403)])
def test_upload_permissions(as_user, personas, seed, who, status, local_store):
    before = Commit.objects.count()
    assert _status(as_user, personas, who, "/acme/secret-model/upload/main", "post",
                   {"files": [SimpleUploadedFile("x.txt", b"x")]}) == status
    assert Commit.objects.count() == before


def test_upload_needs_csrf_token(personas, seed, local_store):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.member)
    response = client.post("/acme/tiny/upload/main", {"files": [SimpleUploadedFile("x.txt", b"x")]})
    assert response.status_code == 403
    assert not CommitFile.objects.filter(path="x.txt").exists()


# --- settings: my acceptances, my organisations ----------------------------------------------------------------


def test_my_acceptances_page(as_user, personas, seed):
    license_accept(user=personas.outsider, repo=seed.auto)
    license_accept(user=personas.outsider, repo=seed.manual, answers={"company": "Beta"})
    html = as_user(personas.outsider).get("/settings/access").content.decode()
    assert 'data-repo="acme/gated-auto"' in html and 'data-status="accepted"' in html
    assert 'data-repo="acme/gated-manual"' in html and 'data-status="pending"' in html
    assert "mina" not in html
    assert as_user(personas.anonymous).get("/settings/access").status_code == 302


def test_my_acceptances_flags_a_superseded_license(as_user, personas, seed):
    license_accept(user=personas.outsider, repo=seed.auto)
    License.objects.filter(pk=personas.license.pk).update(version=2)
    html = as_user(personas.outsider).get("/settings/access").content.decode()
    assert "superseded" in html


def test_my_acceptances_query_count_is_constant(as_user, personas, make_repo, django_assert_max_num_queries):
    client = as_user(personas.outsider)
    repos = [make_repo(f"g{i}", gating="auto") for i in range(10)]
    for repo in repos[:3]:
        license_accept(user=personas.outsider, repo=repo)
    with django_assert_max_num_queries(10) as few:
        client.get("/settings/access")
    for repo in repos[3:]:
        license_accept(user=personas.outsider, repo=repo)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/settings/access")
    assert len(response.context["acceptances"]) == 10
    assert LicenseAcceptance.objects.filter(user=personas.outsider).count() == 10


def test_my_organisations_page(as_user, personas, django_assert_max_num_queries):
    from registry.models import Membership, Organization

    for i in range(4):
        Membership.objects.create(user=personas.member, organization=Organization.objects.create(
            slug=f"o{i}", name=f"Org {i}"), role="read")
    client = as_user(personas.member)
    with django_assert_max_num_queries(10):
        html = client.get("/settings/organizations").content.decode()
    assert "Acme AI" in html and "Org 3" in html
    assert "/organizations/acme/members" not in html  # mina is not an admin
    assert "/organizations/acme/members" in as_user(personas.owner).get("/settings/organizations").content.decode()
    lonely = as_user(personas.outsider).get("/settings/organizations").content.decode()
    assert "not a member of any organisation" in lonely
