"""The error contract as the stock huggingface_hub client sees it over HTTP: every 4xx carries X-Error-Code and a
readable X-Error-Message, so the client raises the right error and prints the message instead of `None`."""

from __future__ import annotations

import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError
from huggingface_hub.utils import get_session, hf_raise_for_status

pytestmark = pytest.mark.live


@pytest.fixture
def tiny(hub, make_repo):
    repo = make_repo("tiny")
    hub.seed(repo, inline={"config.json": b'{"model_type": "llama"}'})
    return repo


def server_message(error: HfHubHTTPError) -> str:
    return error.server_message or ""


@pytest.mark.parametrize(("revision", "shown"), [
    ("브랜치", "Invalid rev id: 브랜치"),  # non-ASCII reaches the client as UTF-8
    ("dev\x01x", "Invalid rev id: dev\\x01x"),  # controls shown escaped
    ("dev\r\nX-Injected: 1", "Invalid rev id: dev X-Injected: 1"),  # one line: no header injection
])
def test_a_hostile_revision_is_revision_not_found_with_a_readable_message(hub, tiny, revision, shown):
    with pytest.raises(RevisionNotFoundError) as info:
        hf_hub_download("acme/tiny", "config.json", revision=revision, endpoint=hub.url, cache_dir=hub.cache,
                        token=hub.token("owner"))
    assert server_message(info.value) == shown
    assert "X-Injected" not in info.value.response.headers


def test_other_repo_types_are_repository_not_found_not_an_unexplained_404(hub, tiny):
    api = hub.api("owner")
    assert api.repo_exists("acme/tiny", repo_type="dataset") is False
    assert api.file_exists("acme/tiny", "config.json", repo_type="dataset") is False


@pytest.mark.parametrize(("method", "path", "code"), [
    ("HEAD", "/acme/tiny/resolve", "NotFound"),
    ("GET", "/api/models/acme/tiny/no-such-route", "NotFound"),
    ("DELETE", "/api/models", "MethodNotAllowed"),
])
def test_routes_no_view_answers_carry_a_message(hub, tiny, method, path, code):
    response = get_session().request(method, f"{hub.url}{path}")
    assert response.headers["X-Error-Code"] == code
    with pytest.raises(HfHubHTTPError) as info:
        hf_raise_for_status(response)
    assert server_message(info.value) and "None" not in str(info.value)


def test_an_unsatisfiable_range_explains_itself(hub, tiny):
    response = get_session().get(f"{hub.url}/acme/tiny/resolve/main/config.json", headers={"Range": "bytes=9999-"})
    assert response.status_code == 416
    with pytest.raises(HfHubHTTPError) as info:
        hf_raise_for_status(response)
    assert "not satisfiable" in server_message(info.value)
