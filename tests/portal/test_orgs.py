from __future__ import annotations

import pytest

from registry.models import LicenseAcceptance
from registry.services.licenses import license_accept

pytestmark = pytest.mark.django_db


def test_org_page_lists_members_roles_and_models(client, personas, seed):
    response = client.get("/acme")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme AI" in html
    for name in ("olivia", "mina", "rae"):
        assert name in html
    assert "Admin" in html and "Write" in html and "Read" in html
    assert "acme/tiny" in html and "acme/gated-auto" in html


@pytest.mark.parametrize("who, sees", [
    ("anonymous", False), ("outsider", False), ("reader", True), ("member", True), ("owner", True),
])
def test_org_page_private_models_only_for_members(as_user, personas, seed, who, sees):
    html = as_user(getattr(personas, who)).get("/acme").content.decode()
    assert ("acme/secret-model" in html) is sees


def test_writers_and_admins_see_access_request_link(as_user, personas, seed):
    assert b"/acme/access-requests" in as_user(personas.owner).get("/acme").content
    member = as_user(personas.member).get("/acme").content
    assert b"/acme/access-requests" in member and b"/organizations/acme/members" not in member
    assert b"/acme/access-requests" not in as_user(personas.reader).get("/acme").content


def test_user_namespace_page(client, personas, db):
    response = client.get("/oscar")
    assert response.status_code == 200
    assert client.get("/no-such-org").status_code == 404


def test_org_page_query_count_is_constant(client, personas, make_repo, django_assert_max_num_queries):
    for i in range(3):
        make_repo(f"r{i}")
    with django_assert_max_num_queries(10) as few:
        client.get("/acme")
    for i in range(3, 10):
        make_repo(f"r{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/acme")


def test_org_page_pages_its_models_with_next_and_previous_links(client, personas, make_repo):
    import re
    from html import unescape

    from registry.models import ModelRepo

    for i in range(35):
        ModelRepo.objects.filter(pk=make_repo(f"r{i:02d}").pk).update(downloads=100 - i)
    make_repo("zz-private", private=True)

    def links(response) -> dict[str, str]:
        return {rel: "/acme" + unescape(href) for rel, href in
                re.findall(r'<a rel="(next|prev)" href="([^"]+)"', response.content.decode())}

    def shown(response) -> list[str]:
        return [repo.name for repo in response.context["page"].repos.rows]

    first = client.get("/acme")
    assert shown(first) == [f"r{i:02d}" for i in range(30)] and "prev" not in links(first)
    second = client.get(links(first)["next"])
    assert shown(second) == [f"r{i:02d}" for i in range(30, 35)] and "next" not in links(second)
    assert shown(client.get(links(second)["prev"])) == shown(first)
    assert client.get("/acme?cursor=garbage").status_code == 200


def test_user_page_lists_the_users_models_whatever_the_case_of_the_url(client, personas, db):
    from registry.services.repos import repo_create

    repo_create(actor=personas.outsider, namespace="oscar", name="solo")
    response = client.get("/OSCAR")
    assert response.status_code == 200
    assert [repo.repo_id for repo in response.context["page"].repos.rows] == ["oscar/solo"]


# --- manual-approval queue ------------------------------------------------------------------------


@pytest.fixture
def pending(personas, seed):
    return license_accept(user=personas.outsider, repo=seed.manual, answers={"company": "Beta Labs"})


@pytest.mark.parametrize("who, status", [
    ("anonymous", 302), ("outsider", 403), ("reader", 403), ("member", 200), ("owner", 200),
])
def test_access_requests_page_permissions(as_user, personas, pending, who, status):
    response = as_user(getattr(personas, who)).get("/acme/access-requests")
    assert response.status_code == status
    if status == 200:
        assert b"oscar" in response.content and b"Beta Labs" in response.content
    if status == 403:
        assert b"Beta Labs" not in response.content
        assert b"403" in response.content


@pytest.mark.parametrize("who", ["owner", "member"])
@pytest.mark.parametrize("decision, status", [("approve", "accepted"), ("reject", "rejected")])
def test_writers_and_admins_decide(as_user, personas, pending, decision, status, who):
    client = as_user(getattr(personas, who))
    response = client.post("/acme/access-requests", {"request": pending.pk, "decision": decision},
                           follow=True)
    assert response.status_code == 200
    pending.refresh_from_db()
    assert pending.status == status and pending.decided_by == getattr(personas, who)
    assert b"oscar" in response.content  # the message names the user; the queue is empty now
    assert response.context["pending"] == []


@pytest.mark.parametrize("who", ["outsider", "reader"])
def test_readers_and_outsiders_cannot_decide(as_user, personas, pending, who):
    response = as_user(getattr(personas, who)).post("/acme/access-requests",
                                                    {"request": pending.pk, "decision": "approve"})
    assert response.status_code == 403
    pending.refresh_from_db()
    assert pending.status == LicenseAcceptance.Status.PENDING


def test_cannot_decide_another_orgs_request(as_user, personas, pending):
    from registry.models import Membership, Organization

    other = Organization.objects.create(slug="beta", name="Beta")
    Membership.objects.create(user=personas.outsider, organization=other, role="admin")
    response = as_user(personas.outsider).post("/beta/access-requests",
                                               {"request": pending.pk, "decision": "approve"})
    assert response.status_code == 404
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_queue_query_count_is_constant(as_user, personas, seed, django_assert_max_num_queries):
    from tests.fixtures.personas import make_user

    for i in range(3):
        license_accept(user=make_user(f"u{i}"), repo=seed.manual, answers={"company": "c"})
    client = as_user(personas.owner)
    with django_assert_max_num_queries(12) as few:
        client.get("/acme/access-requests")
    for i in range(3, 10):
        license_accept(user=make_user(f"u{i}"), repo=seed.manual, answers={"company": "c"})
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/acme/access-requests")
    assert len(response.context["pending"]) == 10
