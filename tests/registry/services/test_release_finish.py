"""Issue 19's release fixes: the manifest's hub URL and license, the card's license following into the repo's
setting (or a disagreement shown), re-running a stale checklist, the explained waiver for a check that never ran,
SITE_URL validated at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry.models import AuditEvent, License, Release
from registry.services.commits import AddInline, commit_create
from registry.services.releases import (
    release_approve,
    release_publish,
    release_request,
    release_rerun_checklist,
    release_waive_inference,
)
from registry.services.repos import repo_update_settings
from tests.fixtures.personas import make_key
from tests.fixtures.releases import checked, model_commit

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]
APACHE_CARD = b"---\nlicense: apache-2.0\nlanguage: [ko]\npipeline_tag: text-generation\n---\n# Tiny\nA model.\n"
MIT_CARD = APACHE_CARD.replace(b"apache-2.0", b"mit")


@pytest.fixture(autouse=True)
def _signing(signing_key):
    return signing_key


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def card_commit(personas, repo, card: bytes):
    return commit_create(actor=personas.member, repo=repo, title="card", operations=[AddInline("README.md", card)])


# --- licenses ------------------------------------------------------------------------------------------------


def test_the_common_open_licenses_ship_with_the_hub_and_an_admins_edit_is_kept():
    import importlib

    from django.apps import apps

    load = importlib.import_module("registry.migrations.0022_common_licenses").load
    License.objects.filter(slug="mit").delete()  # (a transactional test's flush may have removed them all)
    License.objects.update_or_create(slug="apache-2.0", defaults={"name": "Apache, as our lawyers put it",
                                                                  "text": "edited"})
    load(apps, None)
    load(apps, None)  # idempotent
    slugs = set(License.objects.values_list("slug", flat=True))
    assert {"apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0",
            "openrail"} <= slugs
    assert License.objects.get(slug="apache-2.0").name == "Apache, as our lawyers put it"
    assert License.objects.get(slug="mit").url.startswith("https://")


def test_the_card_license_sets_the_repo_license_and_follows_the_card(personas, make_repo):
    repo = make_repo("tiny", private=True)
    assert repo.license_id is None
    model_commit(personas, repo, card=APACHE_CARD)
    repo.refresh_from_db()
    assert (repo.license.slug, repo.license_from_card) == ("apache-2.0", True)
    event = AuditEvent.objects.filter(action="repo.license_from_card").get()
    assert event.metadata == {"license": "apache-2.0", "before": None}

    card_commit(personas, repo, MIT_CARD)  # set from the card before: it follows the card
    repo.refresh_from_db()
    assert repo.license.slug == "mit"

    card_commit(personas, repo, b"# no metadata\n")  # the card no longer names one: the card's license goes
    repo.refresh_from_db()
    assert (repo.license_id, repo.license_from_card) == (None, False)


def test_an_owners_explicit_license_is_never_overridden_and_the_disagreement_is_shown(client, personas, make_repo):
    repo = make_repo("tiny", private=True)
    repo_update_settings(actor=personas.owner, repo=repo, license=personas.license)
    model_commit(personas, repo, card=APACHE_CARD)
    repo.refresh_from_db()
    assert (repo.license.slug, repo.license_from_card) == ("acme-license", False)

    client.force_login(personas.owner)
    page = client.get("/acme/tiny/settings").content.decode()
    assert 'id="license-disagreement"' in page and "apache-2.0" in page

    release = release_request(actor=personas.member, repo=repo, version="1.0.0", revision="main", title="One")
    license_item = next(i for i in release.checklist if i["key"] == "license")
    assert "apache-2.0" in license_item["detail"] and "acme-license" in license_item["detail"]


def test_an_unknown_card_license_stays_an_admin_choice(personas, make_repo):
    repo = make_repo("tiny", private=True)
    model_commit(personas, repo, card=APACHE_CARD.replace(b"apache-2.0", b"llama3"))
    repo.refresh_from_db()
    assert repo.license_id is None and repo.card_license == "llama3"


def test_a_license_set_after_the_request_is_the_manifests_license(personas, make_repo, admins):
    repo = make_repo("tiny", private=True)
    checked(model_commit(personas, repo))  # card says license: other, which the hub doesn't know
    release = release_request(actor=personas.member, repo=repo, version="1.0.0", revision="main", title="One")
    assert release.state == Release.State.DRAFT
    repo_update_settings(actor=personas.owner, repo=repo, license=personas.license)
    release = release_rerun_checklist(actor=personas.member, release=release)
    assert release.state == Release.State.PENDING
    release = release_publish(release_id=release_approve(actor=admins["telco"], release=release).pk)
    manifest = json.loads(bytes(release.manifest))
    assert manifest["license"]["slug"] == "acme-license"


# --- re-running a stale checklist ----------------------------------------------------------------------------


def test_the_requester_reruns_a_stale_checklist_in_the_portal_and_over_the_api(client, personas, make_repo):
    repo = make_repo("tiny", private=True)
    commit = model_commit(personas, repo)
    release = release_request(actor=personas.member, repo=repo, version="1.0.0", revision="main", title="One")
    assert release.state == Release.State.DRAFT
    checked(commit)
    repo_update_settings(actor=personas.owner, repo=repo, license=personas.license)

    client.force_login(personas.member)
    page = client.get("/acme/tiny/releases/1.0.0").content.decode()
    assert "/acme/tiny/releases/1.0.0/recheck" in page
    response = client.post("/acme/tiny/releases/1.0.0/recheck")
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.state == Release.State.PENDING
    event = AuditEvent.objects.filter(action="release.recheck").latest("id")
    assert event.actor_id == personas.member.pk and event.metadata["before"] == "draft"

    # Over the API, with the requester's write key (no admin scope needed).
    url = "/api/v1/models/acme/tiny/releases/1.0.0/recheck"
    response = client.post(url, data="{}", content_type="application/json", **bearer(make_key(personas.member)))
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "pending"


def test_rerunning_is_csrf_protected_and_refused_to_other_readers(personas, make_repo):
    from django.test import Client

    repo = make_repo("tiny", private=True)
    model_commit(personas, repo)
    release_request(actor=personas.member, repo=repo, version="1.0.0", revision="main", title="One")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(personas.member)
    assert strict.post("/acme/tiny/releases/1.0.0/recheck").status_code == 403
    assert not AuditEvent.objects.filter(action="release.recheck").exists()

    release = Release.objects.get()
    from registry.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        release_rerun_checklist(actor=personas.reader, release=release)


# --- the waiver for a check that never ran ------------------------------------------------------------------


def test_a_not_run_inference_check_explains_the_waiver_which_lands_in_the_manifest(client, personas, make_repo,
                                                                                   admins):
    repo = make_repo("tiny", private=True)
    repo_update_settings(actor=personas.owner, repo=repo, license=personas.license)
    checked(model_commit(personas, repo), inference=None)  # no GPU worker: the check never ran
    release = release_request(actor=personas.member, repo=repo, version="1.0.0", revision="main", title="One")
    inference = next(i for i in release.checklist if i["key"] == "inference")
    assert not inference["ok"] and "not run" in inference["detail"] and "waive" in inference["detail"]
    client.force_login(personas.member)
    assert 'id="waiver-help"' in client.get("/acme/tiny/releases/1.0.0").content.decode()

    release = release_waive_inference(actor=admins["telco"], release=release, reason="no GPU workers on this hub")
    assert release.state == Release.State.PENDING
    assert AuditEvent.objects.filter(action="release.waive_inference").exists()
    release = release_publish(release_id=release_approve(actor=admins["chips"], release=release).pk)
    manifest = json.loads(bytes(release.manifest))
    assert manifest["inference"]["waiver"] == {"reason": "no GPU workers on this hub", "by": "telco-admin"}


# --- the manifest's hub --------------------------------------------------------------------------------------


def test_the_manifest_names_the_address_the_hub_is_served_on(client, personas, ready, admins, settings):
    settings.ALLOWED_HOSTS = ["hub.internal"]
    settings.SITE_URL_CONFIGURED = False
    host = {"HTTP_HOST": "hub.internal:8443", "SERVER_PORT": "8443"}
    response = client.post("/api/v1/models/acme/tiny/releases", data=json.dumps({"version": "1.0.0", "title": "x"}),
                           content_type="application/json", **bearer(make_key(personas.member)), **host)
    assert response.status_code == 201, response.content
    release = Release.objects.get()
    release = release_publish(release_id=release_approve(actor=admins["telco"], release=release).pk)
    assert json.loads(bytes(release.manifest))["hub"] == "http://hub.internal:8443"


def test_a_configured_site_url_is_the_manifests_hub(personas, ready, admins, settings):
    settings.SITE_URL, settings.SITE_URL_CONFIGURED = "https://hub.example.org", True
    repo, _ = ready
    release = release_request(actor=personas.member, repo=repo, version="1.0.0", revision="main", title="One",
                              base_url="http://10.0.0.5:8000/")
    release = release_publish(release_id=release_approve(actor=admins["telco"], release=release).pk)
    assert json.loads(bytes(release.manifest))["hub"] == "https://hub.example.org"


@pytest.mark.parametrize("value", ["hub.example.org", "ftp://hub.example.org", "https://"])
def test_site_url_must_be_an_absolute_http_url(value):
    env = {**os.environ, "DEBUG": "true", "SITE_URL": value}
    done = subprocess.run([sys.executable, "-c", "import portal.settings"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and "SITE_URL" in done.stderr
