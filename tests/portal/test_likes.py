"""The model page's Like button (the only way to like: HF's API can only unlike), its count, and the list's
"Most liked" sort."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from registry.models import ModelRepo, RepoLike
from registry.services.likes import repo_like
from tests.fixtures.personas import make_user

pytestmark = pytest.mark.django_db


def like_box(html: str) -> str:
    return re.search(r'<div class="like">.*?</div>', html, re.S).group(0)


def test_a_signed_in_reader_likes_and_unlikes_from_the_model_page(seed, personas):  # noqa: ANN001
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(personas.outsider)
    page = browser.get("/acme/tiny")
    box = like_box(page.content.decode())
    assert "0 likes" in box and '<button type="submit" aria-pressed="false">Like</button>' in box
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', box).group(1)

    assert browser.post("/acme/tiny/like", {"like": "1"}).status_code == 403  # no CSRF token: refused
    assert RepoLike.objects.count() == 0
    liked = browser.post("/acme/tiny/like", {"like": "1", "csrfmiddlewaretoken": token}, follow=True)
    box = like_box(liked.content.decode())
    assert "1 like" in box and "Unlike" in box and ModelRepo.objects.get(pk=seed.public.pk).likes == 1
    browser.post("/acme/tiny/like", {"like": "1", "csrfmiddlewaretoken": token})  # a double click counts once
    assert ModelRepo.objects.get(pk=seed.public.pk).likes == 1
    unliked = browser.post("/acme/tiny/like", {"like": "0", "csrfmiddlewaretoken": token}, follow=True)
    assert "0 likes" in like_box(unliked.content.decode()) and RepoLike.objects.count() == 0


def test_anonymous_visitors_get_a_sign_in_link_and_outsiders_no_private_repo(client, seed, personas):  # noqa: ANN001
    box = like_box(client.get("/acme/tiny").content.decode())
    assert "<button" not in box and "/accounts/login/?next=/acme/tiny" in box
    anonymous = client.post("/acme/tiny/like", {"like": "1"})
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    client.force_login(personas.outsider)
    assert client.post("/acme/secret-model/like", {"like": "1"}).status_code == 404
    assert RepoLike.objects.count() == 0
    client.force_login(personas.reader)
    assert client.post("/acme/secret-model/like", {"like": "1"}).status_code == 302
    assert ModelRepo.objects.get(pk=seed.private.pk).likes == 1


def test_the_list_sorts_by_most_liked(client, seed, personas):  # noqa: ANN001
    ModelRepo.objects.filter(pk=seed.public.pk).update(downloads=10_000)
    for i in range(2):
        repo_like(user=make_user(f"fan{i}"), repo=seed.manual)
    repo_like(user=personas.outsider, repo=seed.auto)
    page = client.get("/models?sort=likes").content.decode()
    assert "Most liked" in page
    order = [m for m in re.findall(r'href="/acme/([\w.-]+)"', page) if m in ("tiny", seed.manual.name,
                                                                             seed.auto.name)]
    assert order[:3] == [seed.manual.name, seed.auto.name, "tiny"]
    assert "2 likes" in page
