"""Trees at any size over the HF protocol: keyset pages (a cursor that does not rebuild the tree), folder ids computed
once per commit, paths-info and expand in a fixed number of queries, and the index each listing reads (PostgreSQL).

Query counts can't tell a page read by index from a whole tree read in one query, so the tests also count the rows
the database returns (tests/trees_support.py).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import httpx2 as httpx
import pytest
from django.db import connection

from api.hf import files as hf_files
from registry.models import CommitDir, CommitFile, ContentVerdict
from registry.selectors import trees
from registry.selectors.validation import quarantine_attach
from registry.tree_index import directory_oid
from tests.trees_support import explain, rows_fetched, seed_files, wide_tree

pytestmark = pytest.mark.django_db


def get(hub, url: str) -> httpx.Response:  # noqa: ANN001
    response = httpx.get(url if url.startswith("http") else f"{hub.url}{url}", follow_redirects=False)
    assert response.status_code == 200, response.text
    return response


def all_pages(hub, url: str) -> tuple[list[dict], int]:  # noqa: ANN001
    """Every entry, following the Link headers as the client does; and the number of pages."""
    entries, pages = [], 0
    while url:
        response = get(hub, url)
        entries += response.json()
        pages += 1
        url = response.links.get("next", {}).get("url")
    return entries, pages


@pytest.fixture
def wide(hub, make_repo):  # noqa: ANN001, ANN201
    """acme/wide: 3,000 files in 30 folders of three subfolders each."""
    repo = make_repo("wide")
    commit = seed_files(hub.p.owner, repo, wide_tree(3000, 30))
    return repo, commit


@pytest.mark.live
def test_stock_client_pages_equal_one_page_and_read_each_row_about_once(hub, wide, monkeypatch):  # noqa: ANN001
    repo, commit = wide
    monkeypatch.setattr(hf_files, "TREE_PAGE_SIZE", 10**6)
    whole = get(hub, f"/api/models/acme/wide/tree/{commit.oid}?recursive=true").content
    monkeypatch.setattr(hf_files, "TREE_PAGE_SIZE", 97)
    with rows_fetched(monkeypatch) as read:
        paged, pages = all_pages(hub, f"/api/models/acme/wide/tree/{commit.oid}?recursive=true")
    assert json.dumps(paged).encode() == whole  # byte for byte the same listing (as JsonResponse writes it)
    entries = len(paged)
    assert entries == 3000 + 30 + 90 + 1 and pages == -(-entries // 97)  # files, folders, subfolders, .gitattributes
    # A page reads its own rows (and one more of each kind), never the whole tree again.
    assert read.rows <= entries + pages * 10
    client_paths = [e.path for e in hub.api("anonymous").list_repo_tree("acme/wide", recursive=True)]
    assert client_paths == [e["path"] for e in paged]
    assert client_paths == sorted(client_paths)  # byte order, whatever the database's locale


@pytest.mark.live
def test_a_cursor_continues_after_its_path_when_the_branch_moves(hub, wide, monkeypatch):  # noqa: ANN001
    repo, _ = wide
    monkeypatch.setattr(hf_files, "TREE_PAGE_SIZE", 50)
    first = get(hub, "/api/models/acme/wide/tree/main/d005?recursive=true")
    seen = [e["path"] for e in first.json()]
    cursor = base64.urlsafe_b64decode(first.links["next"]["url"].split("cursor=")[1] + "==").decode()
    assert cursor == f"k:{seen[-1]}"  # a keyset: the last path shown, not an offset
    # Meanwhile a commit adds files before the cursor: the next pages neither repeat nor skip what followed it.
    seed_files(hub.p.owner, repo, {"d005/0-new.txt": b"n", "d005/a-new.txt": b"n"}, title="more")
    rest, _ = all_pages(hub, first.links["next"]["url"])
    rest_paths = [e["path"] for e in rest]
    assert not set(seen) & set(rest_paths)
    assert rest_paths == sorted(rest_paths) and rest_paths[0] > seen[-1]
    assert len(seen) + len(rest_paths) == 100 + 3  # the folder's files and subfolders; the new ones sort before


@pytest.mark.live
def test_folder_ids_are_computed_once_and_keep_their_definition(hub, wide):  # noqa: ANN001
    """Guard: the stored ids are the ids the tree API always gave (sha1 over a folder's relative paths and oids)."""
    repo, commit = wide
    pairs = list(CommitFile.objects.filter(commit=commit).values_list("path", "git_oid"))
    listed = {e.path: e.tree_id for e in hub.api("anonymous").list_repo_tree("acme/wide", recursive=True)
              if hasattr(e, "tree_id")}
    assert len(listed) == 120
    assert all(oid == directory_oid(pairs, path) for path, oid in listed.items())
    info = hub.api("anonymous").get_paths_info("acme/wide", ["d003", "d003/s1", "README.md"])
    assert [i.tree_id for i in info[:2]] == [directory_oid(pairs, "d003"), directory_oid(pairs, "d003/s1")]


@pytest.mark.live
def test_expand_pages_hold_fifty_entries(hub, wide):  # noqa: ANN001
    """As on the Hub: `expand` (last commit, security status) answers 50 entries a page instead of 1,000."""
    response = get(hub, "/api/models/acme/wide/tree/main/d001?recursive=true&expand=true")
    assert len(response.json()) == 50 and "next" in response.links
    entries = list(hub.api("anonymous").list_repo_tree("acme/wide", path_in_repo="d001", recursive=True,
                                                       expand=True))
    assert len(entries) == 103 and all(e.last_commit is not None for e in entries)


def test_a_page_costs_the_same_in_a_tree_ten_times_larger(client, personas, make_repo, monkeypatch,
                                                           django_assert_max_num_queries):
    monkeypatch.setattr(hf_files, "TREE_PAGE_SIZE", 100)
    costs = {}
    for name, count in (("small", 200), ("large", 2000)):
        seed_files(personas.owner, make_repo(name), wide_tree(count, count // 100))
        for query in ("?recursive=true", "/d001?recursive=false", "/d001/s2?expand=true"):
            with django_assert_max_num_queries(12) as queries, rows_fetched(monkeypatch) as read:
                response = client.get(f"/api/models/acme/{name}/tree/main{query}")
            assert response.status_code == 200
            costs[name, query] = (len(queries.captured_queries), read.rows)
    for query in ("?recursive=true", "/d001?recursive=false", "/d001/s2?expand=true"):
        assert costs["large", query][0] == costs["small", query][0], costs
        # At most a page (and one more) of folder rows and of file rows, whatever the tree's size.
        assert costs["large", query][1] <= 2 * 101 + 10, (query, costs)


def test_paths_info_and_expand_for_a_thousand_paths_in_fixed_queries(client, personas, make_repo, monkeypatch,
                                                                      django_assert_max_num_queries):
    repo = make_repo("wide")
    files = wide_tree(2000, 20)
    seed_files(personas.owner, repo, files)
    for n in range(3):  # some history for `lastCommit`
        seed_files(personas.owner, repo, {f"d00{n}/s0/edit.txt": b"%d" % n}, title=f"edit {n}")
    paths = [p for p in files if p.startswith("d0")][:960] + [f"d{i:03d}" for i in range(20)] + ["nope"] * 20
    for expand in ("false", "true"):
        with django_assert_max_num_queries(12), rows_fetched(monkeypatch) as read:
            response = client.post("/api/models/acme/wide/paths-info/main",  # form-encoded, as the client posts
                                   urlencode({"paths": paths, "expand": expand}, doseq=True),
                                   content_type="application/x-www-form-urlencoded")
        entries = response.json()
        assert [e["path"] for e in entries] == paths[:980]
        assert [e["type"] for e in entries[-20:]] == ["directory"] * 20
        # The folders' rows, not every file below them: the files asked, the folders asked (× commits for expand).
        assert read.rows <= (1000 if expand == "false" else 1000 * 5)
    folders = {e["path"]: e for e in entries if e["type"] == "directory"}
    assert folders["d001"]["lastCommit"]["title"] == "edit 1" and folders["d019"]["lastCommit"]["title"] == "seed"


def test_a_bad_cursor_is_a_bad_request(client, personas, make_repo):
    """A cursor is checked (no 5xx), and an offset cursor of the old scheme is not a key."""
    seed_files(personas.owner, make_repo("wide"), wide_tree(10, 2))
    for cursor in ("%%%", base64.urlsafe_b64encode(b"o:1000").decode(), base64.urlsafe_b64encode(b"k:\0").decode()):
        response = client.get(f"/api/models/acme/wide/tree/main?cursor={cursor}")
        assert response.status_code == 400 and response["X-Error-Code"]


# --- the plans: each listing is an index range scan (PostgreSQL) ---------------------------------------------------

needs_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN plans are PostgreSQL's")


@needs_postgres
def test_folder_and_recursive_pages_read_their_indexes(personas, make_repo):
    commit = seed_files(personas.owner, make_repo("wide"), wide_tree(300, 10))
    # The queries tree_rows and folder_page send, captured, then explained.
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        trees.tree_rows(commit=commit, folder="d003", recursive=False, after="d003/s0", limit=10)
        trees.tree_rows(commit=commit, folder="d003", recursive=True, after="d003/s0", limit=10)
        trees.folder_page(commit=commit, folder="d003/s1", limit=10)
    tables = ("registry_commitfile", "registry_commitdir")
    plans = [explain(q["sql"].replace("%", "%%"), (), analyze=tables) for q in captured.captured_queries]
    assert "commitfile_folder_page" in plans[0] and "commitdir_folder_page" in plans[1]
    assert "commitfile_path_page" in plans[2] and "uniq_commitdir_path" in plans[3]
    assert "commitdir_folder_page" in plans[4] and "commitfile_folder_page" in plans[5]
    assert not any("Seq Scan" in plan for plan in plans), plans


@needs_postgres
def test_quarantine_lookup_reads_the_partial_indexes_on_failed_verdicts(personas, make_repo):
    commit = seed_files(personas.owner, make_repo("wide"), wide_tree(50, 5))
    ContentVerdict.objects.bulk_create(  # many verdicts, few of them failed
        ContentVerdict(sha256=f"{n:064x}", git_oid=f"{n:040x}", status="failed" if n % 50 == 0 else "passed")
        for n in range(5000))
    from django.test.utils import CaptureQueriesContext

    files = list(CommitFile.objects.filter(commit=commit).select_related("blob")[:20])
    with CaptureQueriesContext(connection) as captured:
        quarantine_attach(files=files)
    (query,) = captured.captured_queries
    plan = explain(query["sql"].replace("%", "%%"), (), analyze=("registry_contentverdict",))
    assert "contentverdict_failed_gitoid" in plan and "Seq Scan" not in plan, plan
    assert CommitDir.objects.filter(commit=commit).count() == 1 + 5 + 15


@needs_postgres
def test_the_download_counter_reads_only_the_root_folder(personas, make_repo):
    """Each GET of a weight file asks which root file counts as the download: the root's rows, by index."""
    from django.test.utils import CaptureQueriesContext

    from registry.selectors.hf import counts_as_download

    repo = make_repo("wide")
    commit = seed_files(personas.owner, repo, {**wide_tree(300, 10), "model.safetensors": b"w"})
    with CaptureQueriesContext(connection) as captured:
        assert counts_as_download(commit_oid=commit.oid, repo=repo, path="model.safetensors") is False  # config.json
    (query,) = captured.captured_queries
    plan = explain(query["sql"].replace("%", "%%"), (), analyze=("registry_commitfile",))
    assert "commitfile_folder_page" in plan, plan
