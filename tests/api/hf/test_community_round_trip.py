"""Issue 20's round trip, end to end with the stock client against a live hub: a member's webhook watches the org →
an outsider (no org role) opens a PR on a public repo with `upload_file(create_pr=True)` → the PR head is validated
and the verdict shows at `refs/pr/N` → a writer merges → main's head is the merge commit holding the file → the
receiver on 127.0.0.1 got the discussion and repo.content deliveries, each parsed by the client's `WebhookPayload`.
"""

from __future__ import annotations

import pytest
from huggingface_hub import WebhookPayload

from registry import tasks
from registry.models import Branch, CommitFile, ValidationRun
from registry.services.commits import AddInline, commit_create
from tests.webhooks_support import deliveries, receiver  # noqa: F401 - fixtures

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
CONFIG = b'{"model_type": "llama", "hidden_size": 8}\n'


def test_outsider_pr_validated_merged_and_delivered(hub, client_env, make_repo, receiver,  # noqa: ANN001, F811
                                                    deliveries, monkeypatch) -> None:  # noqa: ANN001, F811
    queued: list[int] = []  # validation runs, played by hand as a worker would (test_release_walk_through.py)
    monkeypatch.setattr(tasks.validate_commit, "apply_async", lambda args, **kw: queued.append(args[0]))
    repo = make_repo("tiny")
    base = commit_create(actor=hub.p.owner, repo=repo, title="seed", operations=[AddInline("README.md", b"# t\n")])
    hook = hub.api("member").create_webhook(url=receiver.url, watched=[{"type": "org", "name": "acme"}],
                                            domains=["repo", "discussion"], secret="round-trip")

    # An outsider opens the PR: never on main.
    outsider = hub.api("outsider")
    info = outsider.upload_file(path_or_fileobj=CONFIG, path_in_repo="config.json", repo_id="acme/tiny",
                                commit_message="Add a config", create_pr=True)
    num, pr_ref = info.pr_num, info.pr_revision
    assert pr_ref == f"refs/pr/{num}" and info.pr_url.endswith(f"/acme/tiny/discussions/{num}")
    pr_head = Branch.objects.get(repo=repo, name=pr_ref).head
    assert pr_head.oid == info.oid and Branch.objects.get(repo=repo, name="main").head.oid == base.oid

    # Its commit is validated; the verdict is what model_info says at refs/pr/N.
    run = ValidationRun.objects.get(commit=pr_head)
    assert run.pk in queued
    for run_id in dict.fromkeys(queued):
        tasks.validate_commit.apply(args=(run_id,))
    run.refresh_from_db()
    assert run.status == "warning", run.summary  # a config with no tokenizer: a repo-level warning, no bad file
    status = outsider.model_info("acme/tiny", revision=pr_ref, securityStatus=True).security_repo_status
    assert status["scansDone"] is True and status["validationStatus"] == "warning", status
    assert status["filesWithIssues"] == [] and status["scannedFiles"] == status["totalFiles"]
    assert status["totalFiles"] == len(outsider.list_repo_files("acme/tiny", revision=pr_ref))
    assert [i["name"] for i in status["repoIssues"]] == ["tokenizer"], status

    # A writer merges: main's head is the merge commit, and it holds the file.
    writer = hub.api("member")
    assert writer.get_discussion_details("acme/tiny", num).status == "open"  # upload_file's PRs are open
    writer.merge_pull_request("acme/tiny", num, comment="Thanks!")
    details = writer.get_discussion_details("acme/tiny", num)
    main_head = Branch.objects.get(repo=repo, name="main").head
    assert details.status == "merged" and details.merge_commit_oid == main_head.oid
    assert main_head.oid not in (base.oid, pr_head.oid)
    assert CommitFile.objects.get(commit=main_head, path="config.json").size == len(CONFIG)
    assert writer.list_repo_commits("acme/tiny")[0].title == f"Merge pull request #{num}: Add a config"

    # The receiver got each event, with the secret, in a shape the client's own model reads.
    assert set(deliveries.run()) == {"delivered"}
    payloads = []
    for request in receiver.requests:
        assert request.path == "/hook" and request.headers["X-Webhook-Secret"] == "round-trip"
        payloads.append(WebhookPayload.model_validate_json(request.body))
    assert {p.webhook.id for p in payloads} == {hook.id}
    assert all(p.repo.name == "acme/tiny" and p.repo.private is False for p in payloads)

    def refs_of(payload: WebhookPayload) -> list[tuple[str, str | None, str | None]]:
        return [(r.ref, r.oldSha, r.newSha) for r in payload.updatedRefs or []]

    seen = [(p.event.scope, p.event.action) for p in payloads]
    created = [p for p in payloads if (p.event.scope, p.event.action) == ("discussion", "create")]
    assert [(p.discussion.num, p.discussion.isPullRequest, p.discussion.title) for p in created] == [
        (num, True, "Add a config")], seen
    assert created[0].discussion.url.web.endswith(f"/acme/tiny/discussions/{num}")
    content = [refs_of(p) for p in payloads if p.event.scope == "repo.content"]
    assert content == [[(pr_ref, None, base.oid)],  # refs/pr/N made at the base head, then the PR's commit
                       [(pr_ref, base.oid, pr_head.oid)],
                       [("refs/heads/main", base.oid, main_head.oid)]], content
    merged = [p for p in payloads if (p.event.scope, p.event.action) == ("discussion", "update")
              and p.discussion.status == "merged"]
    assert len(merged) == 1, seen
    assert merged[0].discussion.num == num and merged[0].discussion.changes.mergeCommitId == main_head.oid
    assert merged[0].discussion.changes.base == "refs/heads/main"
