"""The Files and History tabs at any size: a folder is shown a page at a time (its folders first, then its files),
quarantine read for the page's files by index, history a page at a time from a cursor."""

from __future__ import annotations

import hashlib

import pytest

from portal.views import models as model_views
from registry.hashing import git_blob_sha1
from registry.models import CommitFile, ContentVerdict
from registry.selectors import portal as portal_selectors
from tests.trees_support import rows_fetched, seed_files, wide_tree

pytestmark = pytest.mark.django_db


def every_page(client, url: str) -> tuple[list[str], int]:  # noqa: ANN001
    names, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        names += [("d:" if e.is_dir else "f:") + e.path for e in response.context["entries"]]
        pages += 1
        after = response.context["next_after"]
        url = f"{url.split('?')[0]}?after={after}" if after else None
    return names, pages


def test_a_folder_is_shown_a_page_at_a_time_folders_first(client, personas, make_repo, monkeypatch):
    monkeypatch.setattr(portal_selectors, "TREE_PAGE_SIZE", 4)
    repo = make_repo("wide")
    seed_files(personas.owner, repo, {**wide_tree(40, 5), "a.txt": b"a", "z.txt": b"z", "B.txt": b"b"})
    names, pages = every_page(client, "/acme/wide/tree/main")
    assert names == ([f"d:d{i:03d}" for i in range(5)]
                     + [f"f:{p}" for p in (".gitattributes", "B.txt", "README.md", "a.txt", "config.json", "z.txt")])
    assert pages == 3
    first = client.get("/acme/wide/tree/main")
    html = first.content.decode()
    assert 'rel="next" href="?after=d%3Ad003"' in html and "First" not in html
    assert "First" in client.get("/acme/wide/tree/main?after=d%3Ad003").content.decode()
    # The folder's size and file count are its whole content's, whichever page is shown.
    head = first.context["commit"]
    assert first.context["total_size"] == sum(CommitFile.objects.filter(commit=head).values_list("size", flat=True))
    sub = client.get("/acme/wide/tree/main/d001")
    assert [e.name for e in sub.context["entries"]] == ["s0", "s1", "s2"]
    assert sub.context["total_size"] == sum(len(c) for p, c in wide_tree(40, 5).items() if p.startswith("d001/"))
    odd = client.get("/acme/wide/tree/main?after=q%3Ax")  # a cursor of no kind: the first page
    assert [e.name for e in odd.context["entries"]] == [e.name for e in first.context["entries"]]


def test_a_files_page_costs_the_same_in_a_tree_ten_times_larger(client, personas, make_repo, monkeypatch,
                                                                django_assert_max_num_queries):
    costs = []
    ContentVerdict.objects.create(sha256=hashlib.sha256(b"7").hexdigest(), git_oid=git_blob_sha1(b"7"),
                                  status="failed", reason="bad seven")
    for name, count in (("small", 300), ("large", 3000)):
        repo = make_repo(name)
        seed_files(personas.owner, repo, {**wide_tree(count, count // 100),
                                          **{f"d001/f{i:05d}.bin": b"%d" % i for i in range(count // 2)}})
        for url in (f"/acme/{name}/tree/main", f"/acme/{name}/tree/main/d001"):
            with django_assert_max_num_queries(25) as queries, rows_fetched(monkeypatch) as read:
                response = client.get(url)
            assert response.status_code == 200
            costs.append((url.removeprefix(f"/acme/{name}"), len(queries.captured_queries), read.rows))
        entries = {e.name: e for e in response.context["entries"]}
        assert entries["f00007.bin"].quarantine == "bad seven" and entries["f00008.bin"].quarantine is None
        assert 'class="badge quarantined"' in response.content.decode()
    assert [q for _u, q, _r in costs[:2]] == [q for _u, q, _r in costs[2:]], costs  # same queries
    assert costs[1] == costs[3], costs  # and the same rows for a page of a folder of 250 or of 2,500 files
    assert max(rows for _u, _q, rows in costs) <= portal_selectors.TREE_PAGE_SIZE + 60


def test_history_is_shown_a_page_at_a_time(client, personas, make_repo, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(model_views, "HISTORY_PAGE_SIZE", 3)
    repo = make_repo("tiny")
    for i in range(7):
        seed_files(personas.owner, repo, {"f.txt": b"%d" % i}, title=f"change {i}")
    titles, url = [], "/acme/tiny/commits/main"
    while url:
        with django_assert_max_num_queries(20):
            response = client.get(url)
        titles += [c.title for c in response.context["history"]]
        after = response.context["next_after"]
        url = f"/acme/tiny/commits/main?after={after}" if after else None
    assert titles == [f"change {i}" for i in range(6, -1, -1)] + ["initial commit"]
    html = client.get(f"/acme/tiny/commits/main?after={repo.commits.get(title='change 2').oid}").content.decode()
    assert "change 2" in html and "change 3" not in html and "First" in html
