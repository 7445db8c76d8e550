"""Gated-access requests through the stock client: list_pending/accepted/rejected_access_requests,
accept/reject/cancel_access_request and grant_access, for the org's write and admin members (as on the Hub), with the
portal's audit trail."""

from __future__ import annotations

import httpx2 as httpx
import pytest
from huggingface_hub.errors import HfHubHTTPError

from api.hf import access as hf_access
from registry import permissions
from registry.models import AuditEvent, LicenseAcceptance
from registry.services.licenses import license_accept
from tests.fixtures.personas import make_key, make_user

pytestmark = pytest.mark.django_db

REPO = "acme/gate"


def requesters(repo, n: int, start: int = 0) -> list:  # noqa: ANN001
    users = [make_user(f"asker{i}", first_name="Asker", last_name=str(i)) for i in range(start, start + n)]
    for user in users:
        license_accept(user=user, repo=repo, answers={})
    return users


def names(requests) -> list[str]:  # noqa: ANN001
    return [r.username for r in requests]


@pytest.mark.live
def test_the_stock_client_handles_requests_end_to_end(hub, make_repo):  # noqa: ANN001
    repo = make_repo("gate", gating="manual")
    repo.gating_fields = [{"name": "company", "label": "Company", "type": "text", "required": False}]
    repo.save()
    first, second, third = requesters(repo, 3)
    LicenseAcceptance.objects.filter(user=first).update(answers={"company": "Beta"})
    api = hub.api("owner")

    pending = list(api.list_pending_access_requests(REPO))
    assert names(pending) == ["asker0", "asker1", "asker2"]
    assert pending[0].email == "asker0@example.com" and pending[0].fullname == "Asker 0"
    assert pending[0].status == "pending" and pending[0].fields == {"company": "Beta"}
    assert pending[0].timestamp.tzinfo is not None

    api.accept_access_request(REPO, "asker0")
    api.reject_access_request(REPO, "asker1", rejection_reason="Not a consortium member")
    assert names(api.list_accepted_access_requests(REPO)) == ["asker0"]
    assert names(api.list_rejected_access_requests(REPO)) == ["asker1"]
    assert names(api.list_pending_access_requests(REPO)) == ["asker2"]
    assert permissions.can_download(first, repo) and not permissions.can_download(second, repo)

    api.cancel_access_request(REPO, "asker0")  # back to pending: the download stops
    assert names(api.list_pending_access_requests(REPO)) == ["asker0", "asker2"]
    assert not permissions.can_download(first, repo)
    request_id = next(r.request_id for r in api.list_pending_access_requests(REPO) if r.username == "asker2")
    api.accept_access_request(REPO, request_id=request_id)
    assert permissions.can_download(third, repo)

    api.grant_access(REPO, "oscar")  # no request of their own
    assert names(api.list_accepted_access_requests(REPO)) == ["asker2", "oscar"]
    assert permissions.can_download(hub.p.outsider, repo)

    # The portal's audit trail: the same actions, by the admin, naming the user.
    events = [(e.action, e.metadata["user"], e.actor_id) for e in
              AuditEvent.objects.filter(action__in=["license.approve", "license.reject", "license.cancel",
                                                    "license.grant"]).order_by("id")]
    owner = hub.p.owner.pk
    assert events == [("license.approve", "asker0", owner), ("license.reject", "asker1", owner),
                      ("license.cancel", "asker0", owner), ("license.approve", "asker2", owner),
                      ("license.grant", "oscar", owner)]
    rejected = AuditEvent.objects.get(action="license.reject")
    assert rejected.metadata["rejection_reason"] == "Not a consortium member"


@pytest.mark.live
def test_handling_errors_read_as_the_hub_documents_them(hub, make_repo):  # noqa: ANN001
    repo = make_repo("gate", gating="manual")
    requesters(repo, 1)
    api = hub.api("owner")
    api.accept_access_request(REPO, "asker0")
    with pytest.raises(HfHubHTTPError) as info:  # already accepted
        api.accept_access_request(REPO, "asker0")
    assert info.value.response.status_code == 404 and "already accepted" in str(info.value)
    with pytest.raises(HfHubHTTPError) as info:
        api.accept_access_request(REPO, "nobody-here")
    assert info.value.response.status_code == 404 and "does not exist" in str(info.value)
    with pytest.raises(HfHubHTTPError) as info:  # no request of this user
        api.reject_access_request(REPO, "oscar", rejection_reason=None)
    assert info.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as info:
        api.grant_access(REPO, "asker0")
    assert info.value.response.status_code == 400 and "already has access" in str(info.value)
    with pytest.raises(HfHubHTTPError) as info:
        api.reject_access_request(REPO, "asker0", rejection_reason="x" * 201)
    assert info.value.response.status_code == 400
    make_repo("open")
    with pytest.raises(HfHubHTTPError) as info:
        list(api.list_pending_access_requests("acme/open"))
    assert info.value.response.status_code == 400 and "not gated" in str(info.value)


@pytest.mark.live
@pytest.mark.parametrize("who, status", [("reader", 403), ("outsider", 403), ("anonymous", 401)])
def test_only_the_repos_writers_and_admins_may_call_them(hub, make_repo, who, status):  # noqa: ANN001
    repo = make_repo("gate", gating="manual")
    requesters(repo, 1)
    api = hub.api(who)
    calls = [lambda: list(api.list_pending_access_requests(REPO)),
             lambda: list(api.list_accepted_access_requests(REPO)),
             lambda: list(api.list_rejected_access_requests(REPO)),
             lambda: api.accept_access_request(REPO, "asker0"),
             lambda: api.reject_access_request(REPO, "asker0", rejection_reason=None),
             lambda: api.cancel_access_request(REPO, "asker0"),
             lambda: api.grant_access(REPO, "oscar")]
    for call in calls:
        with pytest.raises(HfHubHTTPError) as info:
            call()
        assert info.value.response.status_code == status
        assert info.value.response.headers["X-Error-Code"]
    assert LicenseAcceptance.objects.get().status == "pending"
    assert not AuditEvent.objects.filter(action__in=["license.approve", "license.reject", "license.cancel",
                                                     "license.grant"]).exists()


@pytest.mark.live
def test_a_write_member_manages_requests_as_on_the_hub(hub, make_repo):  # noqa: ANN001
    repo = make_repo("gate", gating="manual")
    first, second = requesters(repo, 2)
    api = hub.api("member")  # mina: the write role in acme, not an admin
    assert names(api.list_pending_access_requests(REPO)) == ["asker0", "asker1"]
    api.accept_access_request(REPO, "asker0")
    api.reject_access_request(REPO, "asker1", rejection_reason="Not in the project")
    api.grant_access(REPO, "oscar")
    assert names(api.list_accepted_access_requests(REPO)) == ["asker0", "oscar"]
    assert permissions.can_download(first, repo) and not permissions.can_download(second, repo)
    events = AuditEvent.objects.filter(action__in=["license.approve", "license.reject", "license.grant"])
    assert {event.actor.username for event in events} == {"mina"} and events.count() == 3


@pytest.mark.live
def test_a_read_scoped_key_of_an_admin_is_refused(hub, make_repo):  # noqa: ANN001
    repo = make_repo("gate", gating="manual")
    requesters(repo, 1)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.url, token=make_key(hub.p.owner, scopes="read"))
    with pytest.raises(HfHubHTTPError) as info:
        api.accept_access_request(REPO, "asker0")
    assert info.value.response.status_code == 403


@pytest.mark.live
def test_a_private_repo_is_not_found_to_outsiders(hub, make_repo):  # noqa: ANN001
    make_repo("gate", gating="manual", private=True)
    for who, status in (("outsider", 404), ("anonymous", 401)):
        with pytest.raises(HfHubHTTPError) as info:
            list(hub.api(who).list_pending_access_requests(REPO))
        assert info.value.response.status_code == status
        assert info.value.response.headers["X-Error-Code"] == "RepoNotFound"
    missing = httpx.post(f"{hub.url}/api/models/acme/nothing/user-access-request/grant",
                         headers={"Authorization": f"Bearer {hub.token('outsider')}"}, json={"user": "rae"})
    private = httpx.post(f"{hub.url}/api/models/{REPO}/user-access-request/grant",
                         headers={"Authorization": f"Bearer {hub.token('outsider')}"}, json={"user": "rae"})
    assert (missing.status_code, missing.json()) == (private.status_code, private.json())  # nothing leaks


def test_lists_are_keyset_pages_of_flat_cost(client, personas, make_repo, monkeypatch,
                                             django_assert_max_num_queries):
    monkeypatch.setattr(hf_access, "PAGE_SIZE", 3)
    repo = make_repo("gate", gating="manual")
    requesters(repo, 10)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {make_key(personas.owner)}"}
    url, seen, costs = f"/api/models/{REPO}/user-access-request/pending", [], []
    while url:
        with django_assert_max_num_queries(5) as queries:
            response = client.get(url, **auth)
        assert response.status_code == 200
        seen += [r["user"]["user"] for r in response.json()]
        costs.append(len(queries.captured_queries))
        link = response.headers.get("Link", "")
        url = link.split(">", 1)[0].lstrip("<").split("testserver", 1)[-1] if 'rel="next"' in link else None
    assert seen == [f"asker{i}" for i in range(10)]
    assert len(costs) == 4 and len(set(costs[1:])) == 1  # every page costs the same (the first: the key's use)
    bad = client.get(f"/api/models/{REPO}/user-access-request/pending?cursor=nonsense", **auth)
    assert bad.status_code == 400 and bad["X-Error-Code"]
