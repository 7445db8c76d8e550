"""`list_repo_commits` at any length of history: keyset pages (the cursor names the commit the next page starts at),
so a page reads its own commits, never the repo's whole history again."""

from __future__ import annotations

import base64

import httpx2 as httpx
import pytest

from api.hf import repos as hf_repos
from registry.services.commits import AddInline, commit_create
from tests.trees_support import rows_fetched

pytestmark = pytest.mark.django_db


def history(personas, repo, n: int, start: int = 0) -> None:  # noqa: ANN001
    for i in range(start, start + n):
        commit_create(actor=personas.owner, repo=repo, title=f"change {i}", operations=[AddInline("f.txt", b"%d" % i)])


@pytest.mark.live
def test_pages_continue_from_their_cursor_when_the_branch_moves(hub, make_repo, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(hf_repos, "COMMITS_PAGE_SIZE", 4)
    repo = make_repo("tiny")
    history(hub.p, repo, 10)
    first = httpx.get(f"{hub.url}/api/models/acme/tiny/commits/main")
    titles = [c["title"] for c in first.json()]
    assert titles == ["change 9", "change 8", "change 7", "change 6"]
    cursor = base64.urlsafe_b64decode(first.links["next"]["url"].split("cursor=")[1] + "==").decode()
    assert cursor == f"k:{repo.commits.get(title='change 5').oid}"  # a keyset: where the next page starts
    history(hub.p, repo, 3, start=10)  # the branch moves on meanwhile: the next pages go on from "change 5"
    url, rest = first.links["next"]["url"], []
    while url:
        page = httpx.get(url)
        rest += [c["title"] for c in page.json()]
        url = page.links.get("next", {}).get("url")
    assert rest == [f"change {i}" for i in range(5, -1, -1)] + ["initial commit"]
    everything = [c.title for c in hub.api("reader").list_repo_commits("acme/tiny")]
    assert everything == [f"change {i}" for i in range(12, -1, -1)] + ["initial commit"]


def test_a_page_costs_the_same_in_a_history_ten_times_longer(client, personas, make_repo, monkeypatch,
                                                              django_assert_max_num_queries):
    monkeypatch.setattr(hf_repos, "COMMITS_PAGE_SIZE", 5)
    costs = []
    for name, length in (("short", 10), ("long", 100)):
        history(personas, make_repo(name), length)
        with django_assert_max_num_queries(8) as queries, rows_fetched(monkeypatch) as read:
            response = client.get(f"/api/models/acme/{name}/commits/main")
        assert len(response.json()) == 5 and "next" in response.headers["Link"]
        costs.append((len(queries.captured_queries), read.rows))
    assert costs[0] == costs[1]  # same queries, same rows: the page, not the history


def test_a_cursor_of_another_repo_or_no_commit_gives_an_empty_page(client, personas, make_repo):
    """A cursor is a starting point inside the repo's own history; anything else names nothing."""
    history(personas, make_repo("one"), 2)
    other = make_repo("two")
    history(personas, other, 2, start=5)  # other changes: git ids are content addressed, the same history is one
    foreign = other.commits.first().oid
    for key in (foreign, "0" * 40, "main"):
        cursor = base64.urlsafe_b64encode(f"k:{key}".encode()).decode()
        response = client.get(f"/api/models/acme/one/commits/main?cursor={cursor}")
        assert response.status_code == 200 and response.json() == [] and "Link" not in response
