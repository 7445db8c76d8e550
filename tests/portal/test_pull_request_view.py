"""The portal's PR part: the template fed by pr_page_context (files, diffs, conflicts, merge button for writers) and
the merge POST (writers, CSRF, refusals shown as messages, never a 500)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation

from registry.models import Branch, Discussion
from registry.selectors.pulls import pr_page_context
from registry.services.commits import AddInline, commit_create
from registry.services.pulls import pr_commit_open

pytestmark = pytest.mark.django_db


@pytest.fixture
def pr(make_repo, personas):
    repo = make_repo()
    commit_create(actor=personas.owner, repo=repo, title="seed", operations=[AddInline("notes.txt", b"one\ntwo\n")])
    discussion, _ = pr_commit_open(actor=personas.reader, repo=repo, title="Fix notes",
                                   operations=[AddInline("notes.txt", b"one\n2\n")])
    return discussion


def render(discussion, viewer, lang: str = "en") -> str:
    context = {"repo_base": f"/{discussion.repo.repo_id}", **pr_page_context(discussion, viewer=viewer)}
    with translation.override(lang):
        return render_to_string("portal/community/_pull_request.html", context)


def test_writer_sees_the_diff_and_a_merge_button(pr, personas):
    html = render(pr, personas.member)
    assert 'data-path="notes.txt"' in html and '<span class="d-add">+2</span>' in html
    assert 'action="/acme/tiny/discussions/1/merge"' in html
    assert "Merge pull request" in html and "disabled" not in html.split("Merge pull request")[0][-80:]
    assert "Merge pull request" not in render(pr, personas.reader)  # readers get no button
    korean = render(pr, personas.member, "ko")
    assert "풀 리퀘스트 병합" in korean and "변경된 파일" in korean


def test_conflicts_are_shown_and_the_button_is_disabled(pr, personas):
    commit_create(actor=personas.member, repo=pr.repo, title="theirs", operations=[AddInline("notes.txt", b"x\n")])
    html = render(pr, personas.member)
    assert "conflicts with the target branch" in html and "<code>notes.txt</code>" in html
    assert "disabled" in html.split("Merge pull request")[0][-80:]


def test_merge_post_by_a_writer(pr, personas, as_user):
    response = as_user(personas.member).post("/acme/tiny/discussions/1/merge", {"comment": "Thanks"})
    assert response.status_code == 302 and response["Location"] == "/acme/tiny/discussions/1"
    pr.refresh_from_db()
    assert pr.status == "merged"
    assert Branch.objects.get(repo=pr.repo, name="main").head.oid == pr.merge_commit_oid
    assert any("merged" in str(m) for m in get_messages(response.wsgi_request))


def test_merge_refusals_are_messages_not_errors(pr, personas, as_user):
    commit_create(actor=personas.member, repo=pr.repo, title="theirs", operations=[AddInline("notes.txt", b"x\n")])
    response = as_user(personas.member).post("/acme/tiny/discussions/1/merge")
    assert response.status_code == 302
    assert any("notes.txt" in str(m) for m in get_messages(response.wsgi_request))
    assert Discussion.objects.get(pk=pr.pk).status == "open"


def test_merge_post_needs_a_writer_and_csrf(pr, personas, as_user):
    assert as_user(personas.reader).post("/acme/tiny/discussions/1/merge").status_code == 403
    assert as_user(personas.outsider).post("/acme/tiny/discussions/1/merge").status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(personas.member)
    assert strict.post("/acme/tiny/discussions/1/merge").status_code == 403
    assert Discussion.objects.get(pk=pr.pk).status == "open"


def test_private_repo_merge_is_404_to_outsiders(make_repo, personas, as_user):
    repo = make_repo("secret", private=True)
    commit_create(actor=personas.owner, repo=repo, title="seed", operations=[AddInline("a.txt", b"a")])
    pr_commit_open(actor=personas.reader, repo=repo, title="Change a", operations=[AddInline("a.txt", b"b")])
    assert as_user(personas.outsider).post("/acme/secret/discussions/1/merge").status_code == 404


def test_portal_tree_at_a_pr_ref_and_no_pr_in_branch_menus(pr, personas, as_user):
    c = as_user(personas.reader)
    page = c.get("/acme/tiny/tree/refs%2Fpr%2F1")
    assert page.status_code == 200 and "notes.txt" in page.content.decode()
    blob = c.get("/acme/tiny/blob/refs%2Fpr%2F1/notes.txt")
    assert blob.status_code == 200 and "2" in blob.content.decode()
    model_page = c.get("/acme/tiny").content.decode()
    assert "refs/pr/1" not in model_page


def test_the_pr_heads_checks_are_shown_with_a_link(pr, personas, as_user):
    from registry.models import ValidationRun

    assert "pr-checks" not in render(pr, personas.member)  # never queued: nothing to show
    head = Branch.objects.get(repo=pr.repo, name="refs/pr/1").head
    run = ValidationRun.objects.create(repo=pr.repo, commit=head, status="running")
    html = render(pr, personas.member)
    assert 'data-validation="running"' in html and 'href="/acme/tiny/checks/refs%2Fpr%2F1"' in html
    run.status = "failed"
    run.save()
    assert 'data-validation="failed"' in render(pr, personas.reader)
    assert "최신 커밋의 검사" in render(pr, personas.member, "ko")
    page = as_user(personas.reader).get("/acme/tiny/checks/refs%2Fpr%2F1")
    assert page.status_code == 200 and 'data-run-status="failed"' in page.content.decode()
