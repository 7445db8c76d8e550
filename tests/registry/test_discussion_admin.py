"""Moderating discussions in the admin: search, filters, lock/unlock, hide a comment, delete a thread — each through
the services, so each writes its audit event — and changelists whose cost does not grow with the table."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import AuditEvent, Branch, Discussion, DiscussionEvent
from registry.services.discussions import comment_add, discussion_create
from tests.fixtures.personas import make_user

pytestmark = pytest.mark.django_db

DISCUSSIONS = reverse("admin:registry_discussion_changelist")
EVENTS = reverse("admin:registry_discussionevent_changelist")


@pytest.fixture
def staff(client, db):  # noqa: ANN001, ANN201
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    return client


@pytest.fixture
def threads(personas, make_repo):  # noqa: ANN001, ANN201
    tiny, other = make_repo("tiny"), make_repo("other")
    question = discussion_create(actor=personas.reader, repo=tiny, title="Spam spam spam")
    pr = discussion_create(actor=personas.member, repo=tiny, title="Add tokenizer", pull_request=True)
    elsewhere = discussion_create(actor=personas.outsider, repo=other, title="Unrelated")
    return question, pr, elsewhere


def test_search_and_filters(staff, threads):  # noqa: ANN001
    def titles(params: dict) -> set[str]:
        response = staff.get(DISCUSSIONS, params)
        assert response.status_code == 200
        return {d.title for d in response.context["cl"].result_list}

    assert titles({"q": "acme/tiny"}) == {"Spam spam spam", "Add tokenizer"}
    assert titles({"q": "tokenizer"}) == {"Add tokenizer"}
    assert titles({"q": "oscar"}) == {"Unrelated"}
    assert titles({"kind": "pull_request"}) == {"Add tokenizer"}
    assert titles({"status": "draft"}) == {"Add tokenizer"}
    assert staff.get(reverse("admin:registry_discussion_change", args=[threads[0].pk])).status_code == 200


def test_lock_unlock_and_delete_write_audit_events(staff, threads, personas):  # noqa: ANN001
    question, pr, _ = threads
    staff.post(DISCUSSIONS, {"action": "lock", "_selected_action": [question.pk]})
    question.refresh_from_db()
    assert question.locked
    with pytest.raises(Exception, match="locked"):
        comment_add(actor=personas.reader, discussion=question, text="more spam")
    staff.post(DISCUSSIONS, {"action": "unlock", "_selected_action": [question.pk]})
    question.refresh_from_db()
    assert not question.locked

    staff.post(DISCUSSIONS, {"action": "delete_threads", "_selected_action": [question.pk, pr.pk]})
    assert not Discussion.objects.filter(pk__in=[question.pk, pr.pk]).exists()
    assert not Branch.objects.filter(name="refs/pr/2").exists()
    actions = list(AuditEvent.objects.filter(action__startswith="discussion.").exclude(action="discussion.create")
                   .order_by("pk").values_list("action", flat=True))
    assert actions == ["discussion.lock", "discussion.unlock", "discussion.delete", "discussion.delete"]
    assert "delete_selected" not in staff.get(DISCUSSIONS).context["cl"].model_admin.get_actions(
        staff.get(DISCUSSIONS).wsgi_request)


def test_hide_a_comment(staff, threads, personas):  # noqa: ANN001
    comment = comment_add(actor=personas.reader, discussion=threads[0], text="buy cheap stuff")
    found = staff.get(EVENTS, {"q": comment.eid.upper()}).context["cl"].result_list
    assert [e.pk for e in found] == [comment.pk]
    staff.post(EVENTS, {"action": "hide_comments", "_selected_action": [comment.pk]})
    comment.refresh_from_db()
    assert comment.hidden and comment.content == ""
    assert AuditEvent.objects.filter(action="discussion.comment.hide", metadata__comment=comment.eid).exists()


def test_changelists_cost_the_same_whatever_the_rows(staff, threads, personas):  # noqa: ANN001
    def cost(url: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert staff.get(url).status_code == 200
        return len(queries)

    few = (cost(DISCUSSIONS), cost(EVENTS))
    repo = threads[0].repo
    for i in range(30):
        discussion = discussion_create(actor=personas.reader, repo=repo, title=f"Thread {i}")
        comment_add(actor=personas.member, discussion=discussion, text="reply")
    assert (cost(DISCUSSIONS), cost(EVENTS)) == few
    assert DiscussionEvent.objects.count() > 60
