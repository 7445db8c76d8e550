"""A commit's page (`/{repo}/commit/{sha}`): what it changed against its parent, with line diffs of small text files,
under the repo page's visibility rules; and the compare page (`/{repo}/compare/{a}...{b}`)."""

from __future__ import annotations

import re

import pytest

from portal.views import commits as commit_views
from registry.models import FileCheck, RepoBlob, ValidationRun
from registry.selectors import changes
from registry.services.commits import AddBlob, AddInline, Delete, commit_create
from registry.services.licenses import license_accept
from registry.services.refs import tag_create
from tests.portal.conftest import fake_blob

pytestmark = pytest.mark.django_db


def change(personas, repo, operations, title="Tune the config", message=""):  # noqa: ANN001, ANN201
    return commit_create(actor=personas.owner, repo=repo, title=title, message=message, operations=operations)


def kinds(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-path="([^"]+)" data-kind="(\w+)"', html))


def test_the_page_shows_message_author_parent_and_the_files_changed_with_a_diff(client, personas, seed):
    before = seed.public.branches.get(name="main").head
    weights = fake_blob(b"new weights" * 10)
    RepoBlob.objects.create(repo=seed.public, blob=weights, source=RepoBlob.Source.UPLOAD)
    commit = change(personas, seed.public, [
        AddInline("config.json", b'{"model_type": "llama", "hidden_size": 128}\n'),
        AddInline("notes/new.md", b"# Notes\n"),
        AddBlob("model.safetensors", weights.sha256, weights.size),
        Delete("tokenizer/vocab.txt"),
    ], message="Bigger hidden size.\n\nSee the paper.")
    response = client.get(f"/acme/tiny/commit/{commit.oid}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Tune the config" in html and "Bigger hidden size." in html and "olivia" in html
    assert f'href="/acme/tiny/commit/{before.oid}"' in html  # the parent
    assert kinds(html) == {"config.json": "modified", "model.safetensors": "modified", "notes/new.md": "added",
                           "tokenizer/vocab.txt": "removed"}  # README.md is unchanged: not listed
    assert "4 files changed" in html
    line = '<span class="d-{}">{}{{&quot;model_type&quot;: &quot;llama&quot;, &quot;hidden_size&quot;: {}}}</span>'
    assert line.format("del", "-", 64) in html and line.format("add", "+", 128) in html
    assert ">LFS<" in html and "Large file: no line diff is shown." in html
    assert f'href="/acme/tiny/blob/{before.oid}/tokenizer/vocab.txt"' in html  # a removed file: as it was
    assert f'href="/acme/tiny/blob/{commit.oid}/notes/new.md"' in html


def test_the_first_commit_has_no_parent_and_adds_every_file(client, personas, make_repo):
    repo = make_repo("fresh")
    first = repo.commits.get()
    html = client.get(f"/acme/fresh/commit/{first.oid}").content.decode()
    assert "none: this is the first commit" in html
    assert kinds(html) == {".gitattributes": "added"}


def test_a_unique_prefix_of_seven_or_more_finds_the_commit(client, personas, seed):
    commit = change(personas, seed.public, [AddInline("a.txt", b"a\n")])
    assert client.get(f"/acme/tiny/commit/{commit.oid[:7]}").status_code == 200
    assert client.get(f"/acme/tiny/commit/{commit.oid.upper()}").status_code == 200
    for bad in (commit.oid[:6], "0" * 40, "not-a-sha", commit.oid + "0"):
        response = client.get(f"/acme/tiny/commit/{bad}")
        assert response.status_code == 404
    other = seed.auto.branches.get(name="main").head  # another repo's commit is no commit of this one
    assert client.get(f"/acme/tiny/commit/{other.oid}").status_code == 404
    assert "no commit 0000000000000000000000000000000000000000 in this model" in client.get(
        f"/acme/tiny/commit/{'0' * 40}").content.decode()


def test_private_repos_commits_are_not_found_to_outsiders(as_user, personas, seed):
    commit = seed.private.branches.get(name="main").head
    url = f"/acme/secret-model/commit/{commit.oid}"
    assert as_user(personas.anonymous).get(url).status_code == 404
    assert as_user(personas.outsider).get(url).status_code == 404
    assert as_user(personas.reader).get(url).status_code == 200
    assert as_user(personas.outsider).get("/acme/secret-model/compare/main...main").status_code == 404


def test_a_gated_repos_diffs_follow_the_file_pages_rule(as_user, personas, seed):
    commit = change(personas, seed.manual, [AddInline("README.md", b"# Manual\n\nReviewed by hand, weekly.\n"),
                                            AddInline("config.json", b'{"hidden_size": 256}\n')])
    url = f"/acme/gated-manual/commit/{commit.oid}"
    html = as_user(personas.outsider).get(url).content.decode()
    assert "+Reviewed by hand, weekly." in html  # the card is readable by everyone, as on the file page
    assert "256" not in html and "shown once you have access" in html
    assert "+{&quot;hidden_size&quot;: 256}" in as_user(personas.reader).get(url).content.decode()
    acceptance = license_accept(user=personas.outsider, repo=seed.manual, answers={"company": "Beta"})
    assert acceptance.status == "pending"
    assert "256" not in as_user(personas.outsider).get(url).content.decode()


def test_large_and_binary_files_say_so_and_validation_verdicts_show(client, personas, seed, monkeypatch):
    monkeypatch.setattr(changes, "DIFF_SIDE_MAX", 1000)
    commit = change(personas, seed.public, [AddInline("big.txt", b"line\n" * 300), AddInline("bin.dat", b"\x00\x01"),
                                            AddInline("ok.txt", b"fine\n")])
    run = ValidationRun.objects.filter(commit=commit).first() or ValidationRun.objects.create(
        repo=seed.public, commit=commit)
    FileCheck.objects.update_or_create(run=run, path="ok.txt", defaults={"sha256": "0" * 64, "status": "failed"})
    html = client.get(f"/acme/tiny/commit/{commit.oid}").content.decode()
    assert "too large for a line diff" in html and "Binary file: no line diff" in html
    assert 'data-check="failed"' in html and "checks failed" in html


def test_a_long_diff_is_cut_short(client, personas, seed, monkeypatch):
    monkeypatch.setattr(changes, "DIFF_LINES_MAX", 10)
    commit = change(personas, seed.public, [AddInline("long.txt", "".join(f"{i}\n" for i in range(100)).encode())])
    html = client.get(f"/acme/tiny/commit/{commit.oid}").content.decode()
    assert html.count('class="d-add"') == 9 and "The diff is cut short" in html


def test_history_links_to_each_commits_page(client, personas, seed):
    commit = change(personas, seed.public, [AddInline("a.txt", b"a\n")])
    html = client.get("/acme/tiny/commits/main").content.decode()
    assert f'href="/acme/tiny/commit/{commit.oid}"' in html


def test_pages_of_a_big_change_cost_the_same_few_queries(client, personas, make_repo, monkeypatch,
                                                         django_assert_max_num_queries):
    monkeypatch.setattr(commit_views, "CHANGES_PAGE_SIZE", 20)
    repo = make_repo("wide")
    change(personas, repo, [AddInline(f"shard/{i:04d}.json", b"{}\n") for i in range(300)], title="many")
    last = change(personas, repo, [AddInline(f"shard/{i:04d}.json", b'{"v": 2}\n') for i in range(0, 300, 3)]
                  + [Delete(f"shard/{i:04d}.json") for i in range(1, 300, 3)]
                  + [AddInline(f"extra/{i}.txt", b"x\n") for i in range(10)], title="rewrite")
    url, seen, costs = f"/acme/wide/commit/{last.oid}", {}, []
    while url:
        with django_assert_max_num_queries(15) as queries:
            response = client.get(url)
        html = response.content.decode()
        seen.update(kinds(html))
        costs.append(len(queries.captured_queries))
        found = re.search(r'rel="next" href="([^"]+)"', html)
        url = f"/acme/wide/commit/{last.oid}" + found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == 100 + 100 + 10 and len(costs) == 11
    assert sum(1 for kind in seen.values() if kind == "removed") == 100
    assert list(seen) == sorted(seen)  # byte order, one page after another, nothing twice
    assert len(set(costs[1:])) == 1 and costs[0] == costs[1] + 2  # the first page also counts the changes


def test_compare_between_branches_tags_and_commits(client, personas, seed):
    tagged = seed.public.branches.get(name="main").head
    c1 = change(personas, seed.public, [AddInline("a.txt", b"one\n")])
    c2 = change(personas, seed.public, [AddInline("a.txt", b"two\n"), AddInline("b.txt", b"b\n")])
    tag_create(actor=personas.owner, repo=seed.public, name="v2", revision=c2.oid)
    for url in ("/acme/tiny/compare/v1.0...main", f"/acme/tiny/compare/{tagged.oid[:8]}...v2",
                f"/acme/tiny/compare/v1.0...{c2.oid}"):
        html = client.get(url).content.decode()
        assert kinds(html) == {"a.txt": "added", "b.txt": "added"}, url
    html = client.get(f"/acme/tiny/compare/{c1.oid}...main").content.decode()
    assert kinds(html) == {"a.txt": "modified", "b.txt": "added"} and "+two" in html and "-one" in html
    backwards = client.get(f"/acme/tiny/compare/main...{c1.oid}").content.decode()
    assert kinds(backwards) == {"a.txt": "modified", "b.txt": "removed"}
    assert "nothing differs" in client.get("/acme/tiny/compare/main...main").content.decode()


def listed_commits(html: str) -> list[str]:
    section = html.split('class="compare-commits"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'/commit/([0-9a-f]{40})"', section)


def test_compare_lists_the_commits_the_head_adds(client, personas, seed, monkeypatch):
    tagged = seed.public.branches.get(name="main").head
    c1 = change(personas, seed.public, [AddInline("a.txt", b"one\n")], title="First change")
    c2 = change(personas, seed.public, [AddInline("a.txt", b"two\n")], title="Second change")
    html = client.get("/acme/tiny/compare/v1.0...main").content.decode()
    assert listed_commits(html) == [c2.oid, c1.oid] and "2 commits" in html and "Second change" in html
    assert tagged.oid not in listed_commits(html)
    assert listed_commits(client.get(f"/acme/tiny/compare/{c1.oid}...main").content.decode()) == [c2.oid]
    backwards = client.get(f"/acme/tiny/compare/main...{tagged.oid}").content.decode()
    assert listed_commits(backwards) == [] and "not in the head's history" in backwards
    korean = client.get("/acme/tiny/compare/v1.0...main", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "커밋 2개" in korean
    monkeypatch.setattr(changes, "COMPARE_COMMITS", 1)
    cut = client.get("/acme/tiny/compare/v1.0...main").content.decode()
    assert listed_commits(cut) == [c2.oid] and "Only the newest 1 are listed" in cut


def test_compare_with_a_bad_ref_is_a_readable_404(client, seed):
    for url, text in (("/acme/tiny/compare/main...nope", "nope is no branch, tag or commit of this model"),
                      ("/acme/tiny/compare/nope...main", "nope is no branch, tag or commit of this model"),
                      ("/acme/tiny/compare/main", "compare/&lt;base&gt;...&lt;head&gt;")):
        response = client.get(url)
        assert response.status_code == 404
        assert text in response.content.decode()


def test_the_commit_page_speaks_korean(client, personas, seed):
    commit = change(personas, seed.public, [AddInline("a.txt", b"a\n"), Delete("config.json")])
    html = client.get(f"/acme/tiny/commit/{commit.oid}", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "파일 2개 변경" in html and "추가됨" in html and "삭제됨" in html and "작성자" in html
    compare = client.get("/acme/tiny/compare/main", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "두 리비전을 compare/" in compare
