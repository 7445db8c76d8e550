"""The model page's validation badge, the Checks tab, and quarantined files in the Files tab."""

from __future__ import annotations

import json

import pytest

from registry.models import ValidationRun
from tests.registry.services.test_validation_pipeline import EVIL_PICKLE, README, good_model

pytestmark = pytest.mark.django_db

PERSONAS = ["anonymous", "outsider", "reader", "member", "owner"]


@pytest.fixture
def models(validator, make_repo):  # noqa: ANN001, ANN201
    """acme/open: a good model (passed), then an evil pickle on top (failed); acme/secret: private, good."""
    open_repo = make_repo("open")
    good = validator.commit_and_run(open_repo, **good_model())
    bad = validator.commit_and_run(open_repo, blobs={"pytorch_model.bin": EVIL_PICKLE})
    secret = make_repo("secret", private=True)
    validator.commit_and_run(secret, **good_model())
    return {"open": open_repo, "good": good, "bad": bad, "secret": secret}


def badge(html: str) -> str | None:
    marker = 'data-validation="'
    if marker not in html:
        return None
    start = html.index(marker) + len(marker)
    return html[start: html.index('"', start)]


# --- the badge ----------------------------------------------------------------------------------------


def test_badge_shows_the_shown_revisions_status(client, models):
    assert badge(client.get("/acme/open").content.decode()) == "failed"
    assert badge(client.get("/acme/open/tree/main").content.decode()) == "failed"
    good_oid = models["good"].commit.oid
    html = client.get(f"/acme/open/tree/{good_oid}").content.decode()
    assert badge(html) == "passed"
    assert "checks passed" in html
    assert f'href="/acme/open/checks/{good_oid}"' in html


@pytest.mark.parametrize("status, text", [
    ("pending", "checks pending"), ("running", "checking…"), ("warning", "checks: warnings"),
    ("failed", "checks failed"), ("passed", "checks passed"),
])
def test_badge_states(client, models, status, text):
    ValidationRun.objects.filter(pk=models["bad"].pk).update(status=status)
    html = client.get("/acme/open").content.decode()
    assert badge(html) == status
    assert text in html


def test_no_badge_for_a_commit_never_validated(client, models):
    ValidationRun.objects.filter(pk=models["bad"].pk).delete()
    html = client.get("/acme/open").content.decode()
    assert badge(html) is None
    assert "This revision has not been validated yet." in client.get("/acme/open/checks").content.decode()


# --- the Checks tab -------------------------------------------------------------------------------


def test_checks_tab_lists_run_repo_checks_and_file_checks(client, models):
    response = client.get("/acme/open/checks")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/acme/open/checks/main" aria-current="page"' in html
    assert 'data-run-status="failed"' in html
    assert "Repository checks" in html and "unchanged_files" not in html
    assert 'data-file="pytorch_model.bin"' in html
    assert "pickle" in html and "os.system" in html  # the failed check's name and message
    assert "checks failed" in html


def test_checks_tab_at_a_commit_and_at_main_via_the_rev_path(client, models):
    good_oid = models["good"].commit.oid
    html = client.get(f"/acme/open/checks/{good_oid}").content.decode()
    assert 'data-run-status="passed"' in html
    for path in ("config.json", "README.md", "tokenizer.json", "model.safetensors"):
        assert f'data-file="{path}"' in html
    assert "parameters" in html  # a repo-level check
    assert client.get("/acme/open/checks/main").content.decode().count('data-run-status="failed"') == 1
    assert client.get("/acme/open/checks/no-such-branch").status_code == 404


def test_checks_tab_shows_progress_while_running(client, models):
    ValidationRun.objects.filter(pk=models["bad"].pk).update(status="running", bytes_checked=50,
                                                             bytes_total=200)
    html = client.get("/acme/open/checks").content.decode()
    assert '<progress max="100" value="25">' in html
    assert "checking…" in html


@pytest.mark.parametrize("who, status", [
    ("anonymous", 404), ("outsider", 404), ("reader", 200), ("member", 200), ("owner", 200),
])
def test_private_checks_are_404_for_outsiders(as_user, personas, models, who, status):
    response = as_user(getattr(personas, who)).get("/acme/secret/checks")
    assert response.status_code == status
    if status == 200:
        assert 'data-run-status="passed"' in response.content.decode()


@pytest.mark.parametrize("who", PERSONAS)
def test_public_checks_are_visible_to_everyone(as_user, personas, models, who):
    assert as_user(getattr(personas, who)).get("/acme/open/checks").status_code == 200


def test_checks_page_query_count_is_constant(client, validator, make_repo, django_assert_max_num_queries):
    repo = make_repo("counted")
    validator.commit_and_run(repo, **good_model())
    small = validator.commit_and_run(repo, inline={"README.md": README + b"More.\n"})
    assert small.files.count() == 1
    with django_assert_max_num_queries(20) as few:
        client.get("/acme/counted/checks")
    many = validator.commit_and_run(repo, inline={f"notes/{i}.json": json.dumps({"i": i}).encode()
                                                  for i in range(6)})
    assert many.files.count() >= 3
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/acme/counted/checks")
    assert len(response.context["validation"].files) == 6


# --- quarantined files in the Files tab -------------------------------------------------------------


def test_files_tab_marks_quarantined_files_and_offers_no_download(client, models):
    response = client.get("/acme/open/tree/main")
    html = response.content.decode()
    entries = {e.name: e for e in response.context["entries"]}
    assert entries["pytorch_model.bin"].quarantine
    assert "os.system" in entries["pytorch_model.bin"].quarantine
    assert entries["model.safetensors"].quarantine is None
    assert 'class="badge quarantined"' in html
    assert "/acme/open/resolve/main/pytorch_model.bin" not in html
    assert 'href="/acme/open/resolve/main/model.safetensors?download=true"' in html


def test_blob_page_of_a_quarantined_file_offers_no_download(client, models):
    html = client.get("/acme/open/blob/main/pytorch_model.bin").content.decode()
    assert "quarantined" in html and "os.system" in html
    assert "/resolve/" not in html
    ok = client.get("/acme/open/blob/main/config.json").content.decode()
    assert 'href="/acme/open/resolve/main/config.json?download=true"' in ok


def test_checks_tab_in_korean(client, models):
    html = client.get("/acme/open/checks", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert ">검사<" in html and "검사 실패" in html and "저장소 검사" in html
    tree = client.get("/acme/open/tree/main", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "격리됨" in tree
