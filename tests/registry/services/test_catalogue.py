"""Facet counts maintained on write (registry.services.catalogue): every service that changes what a repo adds to
the facets moves the counts in its own transaction, and `catalogue_rebuild()` recomputes the same counts from the
base tables. Private repos never count."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from registry.models import CatalogueFacet, Membership, ModelRepo, Organization
from registry.services.catalogue import catalogue_rebuild, catalogue_tracked
from registry.services.commits import AddInline, Delete, commit_create
from registry.services.repos import repo_create, repo_delete, repo_move, repo_update_settings

CARD = (b"---\nlicense: apache-2.0\nlanguage: [ko, en]\npipeline_tag: text-generation\nlibrary_name: transformers\n"
        b"tags: [llama, korean]\n---\n# Tiny\n\nA tiny model.\n")


def counts() -> dict[str, int]:
    return {f"{row.kind}:{row.value}": row.count for row in CatalogueFacet.objects.all()}


def rebuilt() -> dict[str, int]:
    """The counts recomputed from scratch (and left in place)."""
    catalogue_rebuild()
    return counts()


def card(personas, repo, content: bytes = CARD, branch: str = "main") -> None:  # noqa: ANN001
    commit_create(actor=personas.owner, repo=repo, title="card", branch=branch,
                  operations=[AddInline("README.md", content)])


def test_a_public_repo_counts_its_namespace_and_card_values(personas, make_repo):
    repo = make_repo("tiny")
    assert counts() == {"all:": 1, "namespace:acme": 1}
    card(personas, repo)
    expected = {"all:": 1, "namespace:acme": 1, "task:text-generation": 1, "library:transformers": 1,
                "license:apache-2.0": 1, "language:ko": 1, "language:en": 1, "tag:llama": 1, "tag:korean": 1}
    assert counts() == expected
    assert rebuilt() == expected


def test_a_private_repo_counts_nowhere_until_it_is_public(personas, make_repo):
    make_repo("open")
    secret = make_repo("secret", private=True)
    card(personas, secret, CARD.replace(b"llama", b"secret-tag"))
    assert "tag:secret-tag" not in counts() and counts()["all:"] == 1
    repo_update_settings(actor=personas.owner, repo=secret, private=False)
    assert counts()["tag:secret-tag"] == 1 and counts()["all:"] == 2 and counts()["namespace:acme"] == 2
    repo_update_settings(actor=personas.owner, repo=secret, private=True)
    assert "tag:secret-tag" not in counts() and counts() == {"all:": 1, "namespace:acme": 1}
    assert rebuilt() == {"all:": 1, "namespace:acme": 1}


def test_card_changes_move_values_and_drop_the_unused(personas, make_repo):
    repo = make_repo("tiny")
    card(personas, repo)
    card(personas, repo, CARD.replace(b"llama", b"mistral").replace(b"apache-2.0", b"mit"))
    after = counts()
    assert "tag:llama" not in after and "license:apache-2.0" not in after
    assert after["tag:mistral"] == 1 and after["license:mit"] == 1
    commit_create(actor=personas.owner, repo=repo, title="drop card", operations=[Delete("README.md")])
    assert counts() == {"all:": 1, "namespace:acme": 1}
    assert rebuilt() == {"all:": 1, "namespace:acme": 1}


def test_a_card_on_another_branch_changes_nothing(personas, make_repo):
    from registry.services.refs import branch_create

    repo = make_repo("tiny")
    branch_create(actor=personas.owner, repo=repo, name="dev")
    card(personas, repo, branch="dev")
    assert counts() == {"all:": 1, "namespace:acme": 1}


def test_license_move_and_delete(personas, make_repo):
    other = Organization.objects.create(slug="beta", name="Beta")
    Membership.objects.create(user=personas.owner, organization=other, role=Membership.Role.ADMIN)
    repo = make_repo("tiny")
    repo_update_settings(actor=personas.owner, repo=repo, license=personas.license)
    assert counts()["license:acme-license"] == 1
    repo = repo_move(actor=personas.owner, repo=repo, to_namespace="beta", to_name="tiny")
    assert "namespace:acme" not in counts() and counts()["namespace:beta"] == 1
    assert rebuilt()["namespace:beta"] == 1
    repo_delete(actor=personas.owner, repo=ModelRepo.objects.get(pk=repo.pk))
    assert counts() == {}
    assert rebuilt() == {}


def test_values_are_counted_once_per_repo(personas, make_repo):
    for name in ("a", "b", "c"):
        card(personas, make_repo(name), CARD.replace(b"tags: [llama, korean]", b"tags: [llama, llama]"))
    assert counts()["tag:llama"] == 3 and counts()["all:"] == 3
    assert rebuilt() == counts()


def test_a_failed_change_leaves_the_counts_as_they_were(personas, make_repo):
    repo = make_repo("tiny")
    with pytest.raises(IntegrityError), transaction.atomic(), catalogue_tracked(repo_id=repo.pk):
        ModelRepo.objects.filter(pk=repo.pk).update(private=True)
        raise IntegrityError("the change fails after the update")
    assert counts() == {"all:": 1, "namespace:acme": 1}


def test_rebuild_counts_repos_inserted_behind_the_services(personas):
    """What `manage.py seed_scale` does: bulk inserts, then catalogue_rebuild()."""
    ModelRepo.objects.bulk_create([
        ModelRepo(namespace="acme", name=f"bulk-{i}", owner_org=personas.org, private=i == 0,
                  pipeline_tag="text-generation", tags=["x" * 101, "ok"], languages=["ko", 7])
        for i in range(4)])
    assert counts() == {}
    assert catalogue_rebuild() == 5
    assert counts() == {"all:": 3, "namespace:acme": 3, "task:text-generation": 3, "tag:ok": 3, "language:ko": 3}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="search documents are PostgreSQL's")
def test_search_documents_follow_the_card_and_the_name(personas, make_repo):
    from registry.selectors.catalogue import RepoQuery, repo_page

    def found(text: str) -> list[str]:
        return [r.repo_id for r in repo_page(viewer=personas.anonymous, query=RepoQuery(text=text)).rows]

    repo = make_repo("tiny")
    card(personas, repo, CARD.replace(b"A tiny model.", "새로운 한국어 모델".encode()))
    assert found("한국어") == ["acme/tiny"]
    card(personas, repo, CARD)
    assert found("한국어") == []
    ModelRepo.objects.filter(pk=repo.pk).update(description="bulk-loaded words")  # behind the services' back
    assert found("bulk") == []
    catalogue_rebuild()
    assert found("bulk") == ["acme/tiny"]


def test_the_management_command_rebuilds(personas, make_repo):
    from io import StringIO

    from django.core.management import call_command

    make_repo("tiny")
    CatalogueFacet.objects.all().delete()
    out = StringIO()
    call_command("catalogue_rebuild", stdout=out)
    assert "2 facet values" in out.getvalue() and counts() == {"all:": 1, "namespace:acme": 1}


def test_an_admin_edit_moves_the_counts(personas, make_repo, rf):
    """The Django admin saves repos itself (not through a service): its save keeps the counts too."""
    from django.contrib import admin

    repo = make_repo("tiny")
    model_admin = admin.site._registry[ModelRepo]
    repo.private = True
    model_admin.save_model(rf.post("/admin/"), repo, form=None, change=True)
    assert counts() == {}
    repo.private = False
    repo.license = personas.license
    model_admin.save_model(rf.post("/admin/"), repo, form=None, change=True)
    assert counts() == {"all:": 1, "namespace:acme": 1, "license:acme-license": 1}
    added = ModelRepo(namespace="acme", name="added-in-admin", owner_org=personas.org)
    model_admin.save_model(rf.post("/admin/"), added, form=None, change=False)
    assert counts()["all:"] == 2 and rebuilt() == counts()


def test_a_user_namespace_counts_too(personas):
    repo_create(actor=personas.outsider, namespace="oscar", name="solo")
    assert counts()["namespace:oscar"] == 1
