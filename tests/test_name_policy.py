"""The one name policy, end to end (hypothesis): every name registry.names accepts can own and name a repo that
every route reverses, resolves and renders without a 5xx; every name it refuses is a clear 4xx at create-repo.

Each example runs in a savepoint that is rolled back, so examples don't see each other's repos.
"""

from __future__ import annotations

import json
import string

import pytest
from django.db import transaction
from django.test import Client
from django.urls import resolve, reverse
from hypothesis import example, given
from hypothesis import strategies as st

from registry import generation
from registry.models import ModelRepo, Organization
from registry.names import RESERVED_NAMESPACES, name_ok
from registry.services.repos import repo_create
from tests.fixtures.fuzz import assert_error_contract, fuzz_settings, wire_safe
from tests.fixtures.personas import make_key

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

NAME_ALPHABET = string.ascii_letters + string.digits + "-_."
FUZZ = fuzz_settings(60)

names = st.text(alphabet=NAME_ALPHABET, min_size=1, max_size=96).filter(name_ok)
# Mostly near misses (the name alphabet with a few intruders), and some arbitrary text.
refused = st.one_of(
    st.text(alphabet=NAME_ALPHABET + "/ \x00\n\t@:é한\u202e\uff4d", min_size=0, max_size=100),
    st.text(max_size=40),
    st.sampled_from(["-x", "x-", ".x", "x.", "a--b", "a..b", "x.git", "X.GIT", "x" * 97, "ab\n", "\udcff", ""]),
).filter(lambda name: not name_ok(name))


def ok(response) -> None:  # noqa: ANN001
    assert response.status_code < 400, (response.status_code, response.content[:200])
    assert wire_safe(response)


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    settings.RATE_LIMIT_API_PER_MINUTE = 0
    settings.RATE_LIMIT_RESOLVE_PER_MINUTE = 0


@pytest.fixture
def owner_client(personas):
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {make_key(personas.owner)}")


@FUZZ
@given(name=names)
@example(name="_x")  # accepted by the old check, refused by the old URL patterns: / and /models were a 500
@example(name="x_")
@example(name="_")
@example(name="a.b-c_d")
@example(name="0")
@example(name="git")
@example(name="x" * 96)
def test_every_accepted_name_routes_and_renders(personas, name):
    anonymous = Client(raise_request_exception=False)
    with transaction.atomic():
        generation.forget()
        # The name as a repo of acme, and (when it is free and not reserved) as an organisation owning one too.
        repos = [repo_create(actor=personas.owner, namespace="acme", name=name)]
        taken = name.lower() in RESERVED_NAMESPACES or name.lower() in {"acme", "olivia", "mina", "rae", "oscar"}
        if not taken:
            from registry.models import Membership

            org = Organization.objects.create(slug=name, name="Fuzz")
            Membership.objects.create(user=personas.owner, organization=org, role=Membership.Role.ADMIN)
            repos.append(repo_create(actor=personas.owner, namespace=name, name="model"))
        for repo in repos:
            kwargs = {"namespace": repo.namespace, "name": repo.name}
            for route, rest in (("model", None), ("hf-model-info", None), ("v1:model-detail", None),
                                ("model-tree", "main"), ("model-blob", "main/.gitattributes"),
                                ("hf-resolve", "main/.gitattributes"), ("hf-tree", "main")):
                extra = {"rest": rest} if rest else {}
                url = reverse(route, kwargs={**kwargs, **extra})
                assert resolve(url).kwargs == {**kwargs, **extra}, url
                ok(anonymous.get(url))
            ok(anonymous.get(f"/api/models?search={name}"))
        ok(anonymous.get("/"))
        ok(anonymous.get("/models"))
        if not taken:
            ok(anonymous.get(reverse("org", kwargs={"slug": name})))
        transaction.set_rollback(True)


@FUZZ
@given(name=refused)
@example(name="ab\n")  # `$` let a trailing newline through the old check
@example(name="\udcff")
@example(name="main\u202e")
def test_every_refused_name_is_a_clear_400_at_create_repo(personas, owner_client, name):
    body = json.dumps({"name": name, "organization": "acme"}).encode("utf-8", "surrogatepass")
    response = owner_client.post("/api/repos/create", body, content_type="application/json")
    assert response.status_code == 400, (name, response.status_code, response.content[:200])
    assert_error_contract(response, name)
    assert not ModelRepo.objects.exclude(namespace="acme", name="tiny").exists()
