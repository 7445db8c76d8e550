"""Release pages: list and detail per viewer, requesting in the browser, the sign-off queue, following,
Atom feeds, the withdrawn-revision warning, and the home page's latest releases."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from django.core import mail

from registry.models import Release, RepoFollow
from registry.services.releases import release_approve, release_publish, release_withdraw
from tests.fixtures.personas import make_user
from tests.fixtures.releases import request

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(autouse=True)
def _signing(signing_key):
    return signing_key


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def published(personas, ready, admins):
    repo, _ = ready
    release = request(personas, repo, title="Tiny one")
    return release_publish(release_id=release_approve(actor=admins["telco"], release=release).pk)


def test_published_releases_are_public_with_manifest_links(client, published):
    page = client.get("/acme/tiny/releases")
    assert page.status_code == 200 and "1.0.0 — Tiny one" in page.content.decode()
    detail = client.get("/acme/tiny/releases/1.0.0").content.decode()
    assert "/api/v1/models/acme/tiny/releases/1.0.0/manifest" in detail
    assert "BEGIN PUBLIC KEY" in detail
    assert "✓" in detail and "Validation passed with no failed file" in detail
    assert "/acme/tiny/releases/1.0.0/approve" not in detail  # anonymous: no sign-off controls


def test_open_requests_of_a_private_repo(client, personas, ready, admins):
    repo, _ = ready
    request(personas, repo)
    assert client.get("/acme/tiny/releases/1.0.0").status_code == 404  # anonymous
    assert login(client, personas.outsider).get("/acme/tiny/releases/1.0.0").status_code == 404
    assert login(client, personas.reader).get("/acme/tiny/releases/1.0.0").status_code == 404  # not published
    assert login(client, personas.member).get("/acme/tiny/releases/1.0.0").status_code == 200
    page = login(client, admins["telco"]).get("/acme/tiny/releases/1.0.0").content.decode()
    assert "Approve" in page and "Reason for rejecting" in page  # consortium admins review private requests


def test_a_writer_requests_a_release_in_the_browser(client, personas, ready):
    login(client, personas.member)
    assert client.get("/acme/tiny/releases/new").status_code == 200
    response = client.post("/acme/tiny/releases/new", {"version": "1.2.0", "revision": "main", "title": "Spring",
                                                       "notes": "Better **Korean**"}, follow=True)
    assert response.redirect_chain[-1][0] == "/acme/tiny/releases/1.2.0"
    assert "<strong>Korean</strong>" in response.content.decode()
    scripted = client.post("/acme/tiny/releases/new", {"version": "1.3.0", "revision": "main", "title": "x",
                                                       "notes": "<script>alert(1)</script>[x](javascript:alert(1))"},
                           follow=True).content.decode()
    assert "<script>alert" not in scripted and "javascript:alert" not in scripted
    bad = client.post("/acme/tiny/releases/new", {"version": "1.2", "revision": "main", "title": "x"})
    assert "is not a semantic version" in bad.content.decode()
    assert login(client, personas.reader).get("/acme/tiny/releases/new").status_code == 403


def test_the_sign_off_queue_approves_and_publishing_follows(client, personas, ready, admins,
                                                            django_capture_on_commit_callbacks, monkeypatch):
    repo, _ = ready
    request(personas, repo)
    monkeypatch.setattr("registry.services.releases._queue_publish",
                        lambda release_id: release_publish(release_id=release_id))
    assert login(client, personas.reader).get("/releases/pending").status_code == 403
    login(client, admins["telco"])
    assert "acme/tiny 1.0.0" in client.get("/releases/pending").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/acme/tiny/releases/1.0.0/approve", {"next": "pending"}, follow=True)
    assert "Release approved." in response.content.decode()
    assert Release.objects.get().state == Release.State.PUBLISHED
    assert "Nothing awaits your decision." in client.get("/releases/pending").content.decode()


def test_a_reject_without_a_reason_is_refused_readably(client, personas, ready, admins):
    repo, _ = ready
    request(personas, repo)
    response = login(client, admins["telco"]).post("/acme/tiny/releases/1.0.0/reject", {"reason": ""}, follow=True)
    assert "needs a reason" in response.content.decode()
    assert Release.objects.get().state == Release.State.PENDING


def test_follow_and_unfollow(client, personas, published):
    fan = make_user("fan")
    login(client, fan)
    client.post("/acme/tiny/follow", {"follow": "1"})
    client.post("/acme/tiny/follow", {"follow": "1"})
    assert RepoFollow.objects.filter(user=fan).count() == 1
    page = client.get("/acme/tiny").content.decode()
    assert "Unfollow" in page and "1 follower" in page
    client.post("/acme/tiny/follow", {"follow": "0"})
    assert not RepoFollow.objects.filter(user=fan).exists()
    assert client.get("/acme/tiny/follow").status_code == 405


def test_atom_feeds_list_published_releases_only(client, personas, published, make_repo, admins):
    secret = make_repo("secret", private=True)
    secret.license = personas.license
    secret.save()
    for url in ("/releases/feed.atom", "/acme/tiny/releases/feed.atom"):
        response = client.get(url)
        assert response["Content-Type"].startswith("application/atom+xml")
        titles = [e.findtext(f"{ATOM}title") for e in ElementTree.fromstring(response.content).iter(f"{ATOM}entry")]
        assert titles == ["acme/tiny 1.0.0: Tiny one"]
    assert client.get("/acme/secret/releases/feed.atom").status_code == 404
    release_withdraw(actor=admins["chips"], release=published, reason="broken")
    entries = ElementTree.fromstring(client.get("/releases/feed.atom").content).iter(f"{ATOM}entry")
    assert list(entries) == []


def test_a_withdrawn_release_is_unlisted_explained_and_warned_about_on_its_files(client, personas, published,
                                                                                   admins):
    release_withdraw(actor=admins["chips"], release=published, reason="Leaks training data")
    assert "1.0.0" not in client.get("/acme/tiny/releases").content.decode()
    detail = client.get("/acme/tiny/releases/1.0.0").content.decode()
    assert "Withdrawn:" in detail and "Leaks training data" in detail
    tree = client.get(f"/acme/tiny/tree/{published.commit.oid}").content.decode()
    assert "which was withdrawn" in tree and "Leaks training data" in tree
    assert "which was withdrawn" not in client.get("/acme/tiny").content.decode()


def test_home_shows_latest_releases(client, published):
    page = client.get("/").content.decode()
    assert "Latest releases" in page and "/acme/tiny/releases/1.0.0" in page
    assert not mail.outbox  # nobody follows: no email


def test_release_pages_speak_korean(client, published):
    page = client.get("/acme/tiny/releases/1.0.0", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "체크리스트" in page and "실패한 파일 없이 검증 통과" in page and "서명된 매니페스트" in page
