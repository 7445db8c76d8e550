"""Domain errors (registry.exceptions raised by services) read in the viewer's language on portal pages, while the
HF API keeps answering in English whatever Accept-Language says (its messages are part of the client contract)."""

from __future__ import annotations

from registry.models import Membership, ModelRepo

KO = {"HTTP_ACCEPT_LANGUAGE": "ko"}


def test_member_add_error_is_korean(as_user, personas):
    response = as_user(personas.owner).post("/organizations/acme/members", {"who": "ghost", "role": "read"}, **KO)
    assert response.status_code == 400
    html = response.content.decode()
    assert "&#x27;ghost&#x27;이라는 사용자가 없습니다. 대신 이메일로 초대하세요" in html
    assert "no user named" not in html
    assert Membership.objects.count() == 3


def test_new_repo_bad_name_error_is_korean(as_user, personas):
    response = as_user(personas.member).post("/new", {"namespace": "acme", "name": "bad..name"}, **KO)
    assert response.status_code == 400
    html = response.content.decode()
    assert "올바른 이름이(가) 아닙니다" in html and "ASCII 영문자" in html
    assert "is not a valid name" not in html
    assert not ModelRepo.objects.filter(name="bad..name").exists()


def test_same_error_in_english_without_korean(as_user, personas):
    response = as_user(personas.member).post("/new", {"namespace": "acme", "name": "bad..name"})
    assert response.status_code == 400
    assert "is not a valid name: use ASCII letters" in response.content.decode()


def test_hf_api_answers_in_english_to_a_korean_client(client, make_repo):
    make_repo("tiny")
    client.cookies["django_language"] = "ko"
    response = client.get("/api/models/acme/tiny/revision/nope", **KO)
    assert response.status_code == 404
    assert response["X-Error-Code"] == "RevisionNotFound"
    assert response["X-Error-Message"] == "Invalid rev id: nope"
    assert response.json()["error"] == "Invalid rev id: nope"
    response = client.get("/api/models/acme/tiny/tree/main/missing-dir", **KO)
    assert response.status_code == 404
    assert response["X-Error-Message"].isascii()
