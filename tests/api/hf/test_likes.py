"""Likes through the stock client (HF_COMMUNITY.md §5): unlike, list_liked_repos, list_repo_likers,
model_info().likes and list_models(sort="likes") — liking itself is the portal's button (tests/portal/test_likes.py),
here the service it calls."""

from __future__ import annotations

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from api.hf import likes as hf_likes
from registry.models import ModelRepo, RepoLike
from registry.services.likes import repo_like, repo_unlike
from tests.fixtures.personas import make_key, make_user

pytestmark = pytest.mark.django_db


def count(repo: ModelRepo) -> int:
    return ModelRepo.objects.get(pk=repo.pk).likes


def test_the_count_follows_likes_and_unlikes_and_is_idempotent(personas, make_repo):  # noqa: ANN001
    repo = make_repo("tiny")
    assert repo_like(user=personas.outsider, repo=repo) is True
    assert repo_like(user=personas.outsider, repo=repo) is False  # a second click counts once
    assert repo_like(user=personas.reader, repo=repo) is True
    assert count(repo) == 2 and RepoLike.objects.filter(repo=repo).count() == 2
    assert repo_unlike(user=personas.outsider, repo=repo) is True
    assert repo_unlike(user=personas.outsider, repo=repo) is False
    assert count(repo) == 1
    personas.reader.delete()  # a deleted account's likes leave the count
    assert count(repo) == 0 and not RepoLike.objects.exists()


@pytest.mark.live
def test_the_stock_client_sees_likes_and_unlikes(hub, make_repo, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(hf_likes, "PAGE_SIZE", 2)  # the client must follow the Link header
    tiny, big, quiet = make_repo("tiny"), make_repo("big"), make_repo("quiet")
    secret = make_repo("secret", private=True)
    fans = [make_user(f"fan{i}", first_name="Fan", last_name=str(i)) for i in range(3)]
    for fan in fans:
        repo_like(user=fan, repo=big)
    repo_like(user=fans[0], repo=tiny)
    for repo in (tiny, big, secret):
        repo_like(user=hub.p.member, repo=repo)
    ModelRepo.objects.filter(pk=quiet.pk).update(downloads=1000)  # most downloads, no likes

    api = hub.api("member")
    assert api.model_info("acme/big").likes == 4
    assert api.model_info("acme/quiet").likes == 0
    assert api.model_info("acme/big", expand=["likes"]).likes == 4
    ranked = [m.id for m in api.list_models(author="acme", sort="likes")]
    assert ranked == ["acme/big", "acme/tiny", "acme/secret", "acme/quiet"]  # not by downloads
    assert [m.likes for m in api.list_models(author="acme", sort="likes", limit=2)] == [4, 2]
    # Keyset pages over the likes order: every model once, in order, whatever the page size.
    from api.hf import repos as hf_repos
    monkeypatch.setattr(hf_repos, "MODELS_PAGE_SIZE", 1)
    paged = [m.id for m in api.list_models(author="acme", sort="likes")]
    assert paged == ranked and len(set(paged)) == len(paged)

    # The member's likes, newest first, paged; the private repo only for those who can read it.
    liked = api.list_liked_repos()
    assert liked.user == "mina" and liked.models == ["acme/secret", "acme/big", "acme/tiny"] and liked.total == 3
    assert hub.api("outsider").list_liked_repos("mina").models == ["acme/big", "acme/tiny"]
    assert HfApi(endpoint=hub.url, token=False).list_liked_repos("mina").models == ["acme/big", "acme/tiny"]

    likers = list(hub.api("anonymous").list_repo_likers("acme/big"))
    assert [u.username for u in likers] == ["mina", "fan2", "fan1", "fan0"]
    assert likers[1].fullname == "Fan 2" and likers[0].avatar_url.startswith("http")
    assert [u.username for u in api.list_repo_likers("acme/secret")] == ["mina"]
    with pytest.raises(RepositoryNotFoundError):
        list(hub.api("outsider").list_repo_likers("acme/secret"))

    api.unlike("acme/big")
    api.unlike("acme/big")  # unliking twice is not an error
    assert api.model_info("acme/big").likes == 3
    assert api.list_liked_repos().models == ["acme/secret", "acme/tiny"]
    with pytest.raises(RepositoryNotFoundError):
        api.unlike("acme/missing")
    with pytest.raises(RepositoryNotFoundError):
        hub.api("outsider").unlike("acme/secret")
    assert count(secret) == 1
    with pytest.raises(HfHubHTTPError) as read_only:
        HfApi(endpoint=hub.url, token=make_key(hub.p.member, scopes="read")).unlike("acme/tiny")
    assert read_only.value.response.status_code == 403 and count(tiny) == 2
    with pytest.raises(HfHubHTTPError) as anonymous:
        HfApi(endpoint=hub.url, token=False).unlike("acme/tiny")
    assert anonymous.value.response.status_code == 401


def test_lists_cost_a_fixed_number_of_queries(client, personas, make_repo,  # noqa: ANN001
                                              django_assert_max_num_queries):
    repos = [make_repo(f"m{i}") for i in range(12)]
    fans = [make_user(f"fan{i}") for i in range(12)]
    for repo in repos:
        repo_like(user=personas.member, repo=repo)
    for fan in fans:
        repo_like(user=fan, repo=repos[0])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {make_key(personas.member)}"}
    for url in ("/api/users/mina/likes", "/api/models/acme/m0/likers", "/api/models?sort=likes&author=acme"):
        with django_assert_max_num_queries(8):
            response = client.get(url, **auth)
        assert response.status_code == 200 and len(response.json()) >= 12


def test_bad_input_is_never_a_500(client, personas, make_repo):  # noqa: ANN001
    make_repo("tiny")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {make_key(personas.member)}"}
    assert client.get("/api/users/nobody/likes", **auth).status_code == 404
    assert client.get("/api/users/mina/likes?cursor=garbage", **auth).status_code == 400
    assert client.get("/api/models/acme/tiny/likers?cursor=%00", **auth).status_code == 400
    assert client.get("/api/models?sort=likes&cursor=xyz", **auth).status_code == 400
    assert client.post("/api/models/acme/tiny/like", **auth).status_code == 405  # no API to like (as on the Hub)
    assert client.delete("/api/models/acme/nope/like", **auth).status_code == 404
