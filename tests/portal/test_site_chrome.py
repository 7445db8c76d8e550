"""The site's chrome (issue 19): the navigation offers only what the viewer may use, the 403 pages say what was
refused, the site's name and address come from settings (page titles, allauth's e-mails, the sites framework), and
every page links a favicon and app icons that are served."""

from __future__ import annotations

import re

import pytest
from django.contrib.sites.models import Site
from django.core import mail
from django.test import override_settings

from registry.models import Organization
from tests.fixtures.personas import make_user

pytestmark = pytest.mark.django_db


def _nav_links(html: str) -> dict[str, str]:
    nav = re.search(r'<nav aria-label="[^"]*" class="mainnav">(.*?)</nav>', html, re.S).group(1)
    return {m.group(2): m.group(1) for m in re.finditer(r'<a href="([^"]+)" data-nav="([a-z-]+)"', nav)}


@pytest.mark.parametrize("who", ["anonymous", "outsider", "reader", "member", "owner", "consortium_admin", "root"])
def test_every_navigation_link_opens_for_the_viewer(as_user, personas, seed, who):
    Organization.objects.filter(pk=personas.org.pk).update(is_consortium_member=who == "consortium_admin")
    user = {"root": lambda: make_user("root", is_superuser=True, is_staff=True),
            "consortium_admin": lambda: personas.owner}.get(who, lambda: getattr(personas, who))()
    client = as_user(user)
    links = _nav_links(client.get("/models").content.decode())
    assert "models" in links
    for name, href in links.items():
        status = client.get(href).status_code
        assert status in {200, 302} and not (status == 302 and name != "login"), f"{who}: {name} {href} → {status}"
    # Only consortium admins (and superusers) sign releases off, so only they are offered the link.
    assert ("releases" in links) is (who in {"consortium_admin", "root"})


def test_members_page_refuses_a_non_admin_with_its_own_reason(as_user, personas):
    response = as_user(personas.member).get("/organizations/acme/members")
    html = response.content.decode()
    assert response.status_code == 403
    assert "Only the organisation&#x27;s admins manage its members." in html
    assert "access requests" not in html
    ko = as_user(personas.member).get("/organizations/acme/members", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "조직 관리자만 구성원을 관리할 수 있습니다." in ko


def test_access_requests_page_refuses_a_reader_with_its_reason(as_user, personas):
    response = as_user(personas.reader).get("/acme/access-requests")
    assert response.status_code == 403
    refused = "Only the organisation&#x27;s members with the write or admin role review access requests."
    assert refused in response.content.decode()


def test_not_found_page_names_the_site(client, db):
    response = client.get("/no/such/model/page/here")
    assert response.status_code == 404
    assert "<title>Not found · Consortium Model Hub</title>" in response.content.decode()


@override_settings(SITE_NAME="Lab Models", SITE_URL="https://models.lab.example")
def test_site_name_from_settings_in_titles_and_the_brand(client, seed):
    for url in ("/", "/models", "/acme/tiny", "/accounts/login/"):
        html = client.get(url).content.decode()
        title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
        assert title.strip().endswith("Lab Models"), (url, title)
        assert 'class="brand"' in html and ">Lab Models</a>" in html
        assert "Consortium Model Hub" not in html.replace("Consortium Model Hub releases", ""), url
    assert "<title>Not found · Lab Models</title>" in client.get("/nope/nope/nope/nope").content.decode()


def test_default_site_name_is_translated(client, db):
    html = client.get("/models", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "컨소시엄 모델 허브" in re.search(r"<title>(.*?)</title>", html, re.S).group(1)


def test_sites_framework_row_follows_settings(db):
    """Migrations leave Django's sites row as settings say, not "example.com"."""
    from urllib.parse import urlparse

    from django.conf import settings

    site = Site.objects.get(pk=settings.SITE_ID)
    assert site.domain == urlparse(settings.SITE_URL).netloc and site.domain != "example.com"
    assert site.name == "Consortium Model Hub"


@override_settings(SITE_NAME="Lab Models", SITE_URL="https://models.lab.example")
def test_account_emails_are_branded_from_settings(client, db):
    from django.core.cache import cache

    cache.clear()
    client.post("/accounts/signup/", {"email": "dev@lab.example", "username": "dev",
                                      "password1": "a-long-Passphrase-42", "password2": "a-long-Passphrase-42"})
    message = mail.outbox[-1]
    assert message.subject.startswith("[Lab Models] ")
    assert "Lab Models" in message.body and "models.lab.example" in message.body
    assert "example.com" not in message.subject + message.body


def test_invitation_email_names_the_site(as_user, personas, django_capture_on_commit_callbacks):
    with override_settings(SITE_NAME="Lab Models", SITE_URL="https://models.lab.example"), \
            django_capture_on_commit_callbacks(execute=True):
        as_user(personas.owner).post("/organizations/acme/members", {"who": "new@lab.example", "role": "read"})
    message = mail.outbox[-1]
    assert "Lab Models" in message.subject and "Consortium Model Hub" not in message.subject
    assert "https://models.lab.example/accounts/signup/" in message.body


def test_every_page_links_a_favicon_and_app_icons_that_are_served(client, seed):
    for url in ("/", "/models", "/acme/tiny", "/accounts/login/", "/nope/nope/nope/nope"):
        html = client.get(url).content.decode()
        icons = dict(re.findall(r'<link rel="(icon|apple-touch-icon|manifest)"[^>]*href="([^"]+)"', html))
        assert set(icons) == {"icon", "apple-touch-icon", "manifest"}, url
    from django.conf import settings
    from django.contrib.staticfiles import finders

    static_files = [href for href in icons.values() if href.startswith(settings.STATIC_URL)]
    assert len(static_files) == 2
    manifest = client.get(icons["manifest"], HTTP_ACCEPT_LANGUAGE="ko")
    assert manifest.status_code == 200 and manifest["Content-Type"] == "application/manifest+json"
    assert manifest.json()["name"] == "컨소시엄 모델 허브"
    static_files += [icon["src"] for icon in manifest.json()["icons"]]
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 301
    static_files.append(favicon["Location"])
    for href in static_files:  # (the test server serves no static files: they are found where collectstatic looks)
        assert finders.find(href.removeprefix(settings.STATIC_URL)), href


def test_role_change_message_names_the_role_in_the_page_language(as_user, personas):
    """The flash message after a role change reads "mina 님의 역할이 이제 관리자입니다.", not "...이제 admin입니다."."""
    from registry.models import Membership

    client = as_user(personas.owner)
    membership = Membership.objects.get(user=personas.member, organization=personas.org)
    response = client.post(f"/organizations/acme/members/{membership.pk}/role", {"role": "admin"},
                           HTTP_ACCEPT_LANGUAGE="ko", follow=True)
    html = response.content.decode()
    assert "mina 님의 역할이 이제 관리자입니다." in html, re.findall(r"<li class=\"message[^>]*>(.*?)</li>", html)
    response = client.post(f"/organizations/acme/members/{membership.pk}/role", {"role": "read"}, follow=True)
    assert "mina is now Read." in response.content.decode()
