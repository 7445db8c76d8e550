"""permissions.repo_readers is can_read_repo as a query: the same users, for every kind of repo."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from registry import permissions
from registry.services.repos import repo_create
from tests.fixtures.personas import make_user

pytestmark = pytest.mark.django_db


def test_repo_readers_picks_exactly_who_can_read(personas, make_repo, django_assert_num_queries):
    make_user("root", is_superuser=True, is_staff=True)
    repos = [make_repo("open"), make_repo("gated", gating="auto"), make_repo("secret", private=True),
             repo_create(actor=personas.outsider, namespace="oscar", name="own", private=True)]
    users = list(get_user_model().objects.order_by("pk"))
    for repo in repos:
        expected = {u.username for u in users if permissions.can_read_repo(u, repo)}
        with django_assert_num_queries(1):
            found = set(get_user_model().objects.filter(permissions.repo_readers(repo)).values_list("username",
                                                                                                     flat=True))
        assert found == expected, repo.repo_id
    assert {u.username for u in users if permissions.can_read_repo(u, repos[2])} == {"olivia", "mina", "rae", "root"}
