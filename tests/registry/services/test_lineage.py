"""Lineage rows and tags written with the default branch's card (registry.services.commits → services.lineage),
re-derived when an adapter or quantised weights come or go; never from other branches; the backfill migration gives
older repos the same."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from registry.models import CatalogueFacet, ModelRepo, RepoBaseModel
from registry.services.catalogue import catalogue_rebuild
from registry.services.commits import AddInline, Delete, commit_create


def card(base: str | list[str] | None = None, relation: str | None = None, extra: str = "") -> bytes:
    lines = ["---", "license: mit", "tags: [llm]"]
    if base is not None:
        lines.append(f"base_model: {base!r}" if isinstance(base, str) else "base_model: [" + ", ".join(base) + "]")
    if relation:
        lines.append(f"base_model_relation: {relation}")
    return ("\n".join([*lines, extra, "---", "# Model", ""])).encode()


def commit(personas, repo, files: dict[str, bytes] | None = None, deleted: tuple[str, ...] = (),  # noqa: ANN001
           branch: str = "main") -> None:
    operations = [AddInline(p, c) for p, c in (files or {}).items()] + [Delete(p) for p in deleted]
    commit_create(actor=personas.owner, repo=repo, operations=operations, title="change", branch=branch)


def rows(repo: ModelRepo) -> list[tuple[str, str, str]]:
    return list(RepoBaseModel.objects.filter(repo=repo).order_by("position")
                .values_list("base_id", "base_key", "relation"))


def tags(repo: ModelRepo) -> list[str]:
    repo.refresh_from_db()
    return repo.tags


def test_a_card_with_a_base_model_writes_its_row_and_tags(personas, make_repo):
    repo = make_repo("child")
    commit(personas, repo, {"README.md": card("Upstream/Base-7B", extra="datasets: [acme/corpus]")})
    assert rows(repo) == [("Upstream/Base-7B", "upstream/base-7b", "finetune")]
    assert tags(repo) == ["llm", "dataset:acme/corpus", "base_model:Upstream/Base-7B",
                          "base_model:finetune:Upstream/Base-7B"]


def test_changing_or_deleting_the_card_replaces_the_rows(personas, make_repo):
    repo = make_repo("child")
    commit(personas, repo, {"README.md": card("a/one")})
    commit(personas, repo, {"README.md": card(["a/one", "b/two"])})
    assert rows(repo) == [("a/one", "a/one", "merge"), ("b/two", "b/two", "merge")]
    commit(personas, repo, {"README.md": card("b/two", relation="quantized")})
    assert rows(repo) == [("b/two", "b/two", "quantized")]
    commit(personas, repo, deleted=("README.md",))
    assert rows(repo) == [] and tags(repo) == []


def test_an_adapter_arriving_later_changes_the_inferred_relation(personas, make_repo):
    repo = make_repo("child")
    commit(personas, repo, {"README.md": card("a/base")})
    commit(personas, repo, {"adapter_config.json": b"{}"})
    assert rows(repo) == [("a/base", "a/base", "adapter")]
    assert "base_model:adapter:a/base" in tags(repo) and "base_model:finetune:a/base" not in tags(repo)
    commit(personas, repo, deleted=("adapter_config.json",))
    commit(personas, repo, {"q/model.Q4_K_M.gguf": b"GGUF"})
    assert rows(repo) == [("a/base", "a/base", "quantized")]


def test_other_branches_leave_the_lineage_alone(personas, make_repo):
    repo = make_repo("child")
    commit(personas, repo, {"README.md": card("a/base")})
    commit_create(actor=personas.owner, repo=repo, operations=[AddInline("README.md", card("x/other"))],
                  title="dev", branch="dev", create_branch=True)
    commit(personas, repo, {"adapter_config.json": b"{}"}, branch="dev")
    assert rows(repo) == [("a/base", "a/base", "finetune")]


def test_derived_tags_are_not_tag_facets(personas, make_repo):
    repo = make_repo("child")
    commit(personas, repo, {"README.md": card("a/base", extra="datasets: wiki")})
    facets = {f"{row.kind}:{row.value}" for row in CatalogueFacet.objects.all()}
    assert "tag:llm" in facets and not {f for f in facets if "base_model:" in f or "dataset:" in f}
    catalogue_rebuild()
    assert {f"{row.kind}:{row.value}" for row in CatalogueFacet.objects.all()} == facets


def test_deleting_a_repo_drops_its_rows(personas, make_repo):
    from registry.services.repos import repo_delete

    repo = make_repo("child")
    commit(personas, repo, {"README.md": card("a/base")})
    repo_delete(actor=personas.owner, repo=repo)
    assert not RepoBaseModel.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_backfill_gives_older_repos_their_rows_and_tags():
    before, after = [("registry", "0017_anatomy")], [("registry", "0019_backfill_lineage")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    user = apps.get_model("auth", "User").objects.create(username="u")
    repos = apps.get_model("registry", "ModelRepo").objects
    commit_model, file_model = apps.get_model("registry", "Commit"), apps.get_model("registry", "CommitFile")
    branch_model = apps.get_model("registry", "Branch")
    adapter = repos.create(namespace="u", name="adapter", owner_user=user, tags=["llm"],
                           card_data={"base_model": "Up/Base", "tags": ["llm"]})
    head = commit_model.objects.create(oid="1" * 40, repo=adapter, author_name="u", title="t")
    file_model.objects.create(commit=head, path="adapter_config.json", content=b"{}", size=2, git_oid="2" * 40)
    branch_model.objects.create(repo=adapter, name="main", head=head)
    plain = repos.create(namespace="u", name="plain", owner_user=user, card_data={"datasets": ["wiki"]})
    none = repos.create(namespace="u", name="none", owner_user=user, tags=["x"], card_data={"tags": ["x"]})

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    apps = executor.loader.project_state(after).apps
    repos = apps.get_model("registry", "ModelRepo").objects
    links = apps.get_model("registry", "RepoBaseModel").objects
    assert list(links.values_list("repo_id", "base_id", "base_key", "relation")) == [
        (adapter.pk, "Up/Base", "up/base", "adapter")]
    assert repos.get(pk=adapter.pk).tags == ["llm", "base_model:Up/Base", "base_model:adapter:Up/Base"]
    assert repos.get(pk=plain.pk).tags == ["dataset:wiki"]
    assert repos.get(pk=none.pk).tags == ["x"]

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
