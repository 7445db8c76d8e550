"""The home page: the models a visitor may see, most downloaded first, in constant queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import ModelRepo
from tests.fixtures.personas import make_user

PERSONAS = ["owner", "member", "reader", "outsider", "anonymous"]


@pytest.fixture
def repos(personas, make_repo):  # noqa: ANN001, ANN201
    open_repo = make_repo("open-model")
    ModelRepo.objects.filter(pk=open_repo.pk).update(description="An open model for everyone.", downloads=10)
    gated = make_repo("gated-model", gating="auto")
    private = make_repo("secret-model", private=True)
    return open_repo, gated, private


def visit(client, personas, who):  # noqa: ANN001, ANN201
    user = getattr(personas, who)
    if user.is_authenticated:
        client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("who", PERSONAS)
def test_home_lists_public_models_to_everyone(client, personas, repos, who):
    page = visit(client, personas, who)
    assert "acme/open-model" in page
    assert "acme/gated-model" in page
    assert "An open model for everyone." in page


@pytest.mark.parametrize(("who", "shown"), [("owner", True), ("member", True), ("reader", True),
                                            ("outsider", False), ("anonymous", False)])
def test_home_shows_private_models_only_to_org_members(client, personas, repos, who, shown):
    assert ("acme/secret-model" in visit(client, personas, who)) is shown


def test_home_shows_private_models_to_superuser(client, personas, repos):
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    assert "acme/secret-model" in client.get("/").content.decode()


def test_home_orders_by_downloads(client, personas, repos):
    ModelRepo.objects.filter(name="gated-model").update(downloads=1000)
    page = visit(client, personas, "anonymous")
    assert page.index("acme/gated-model") < page.index("acme/open-model")


def test_home_without_models_says_so(client, db):
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_home_query_count_does_not_grow_with_rows(client, personas, repos, make_repo, who):
    visit(client, personas, who)  # warm up session and caches

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        return len(ctx.captured_queries)

    with_three = count()
    for i in range(4):
        make_repo(f"more-{i}", gating="manual" if i % 2 else "none")
    assert count() == with_three
