"""upload-pack over raw HTTP: what a hostile or broken client gets (a 4xx git prints, never a 5xx), gzip-encoded
negotiations, and the answers git's own upload-pack gives to the same requests."""

from __future__ import annotations

import base64
import gzip

import pytest
from django.test import Client

from api.git import upload_pack
from registry.models import Branch

pytestmark = pytest.mark.django_db

RESULT = "application/x-git-upload-pack-result"
REQUEST = "application/x-git-upload-pack-request"


def pkt(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return b"%04x" % (len(data) + 4) + data


@pytest.fixture
def repo(make_repo, personas):  # noqa: ANN001, ANN201
    from registry.services.commits import AddInline, commit_create

    repo = make_repo("tiny")
    commit_create(actor=personas.owner, repo=repo, operations=[AddInline("a.txt", b"a\n")], title="one",
                  branch="main")
    return repo


def _post(repo, body: bytes, **headers):  # noqa: ANN001, ANN003, ANN201
    headers.setdefault("content_type", REQUEST)
    return Client().post(f"/{repo.repo_id}.git/git-upload-pack", data=body, **headers)


def _head(repo) -> str:  # noqa: ANN001
    return Branch.objects.get(repo=repo, name="main").head.oid


@pytest.mark.parametrize("body", [
    b"zzzz",
    b"0003",
    b"00ffwant",
    pkt("want nothex\n") + b"0000",
    pkt("wont " + "a" * 40 + "\n") + b"0000",
    pkt("want " + "a" * 40 + "\n") + b"0000" + pkt("done\n"),  # not a commit of this repo
    pkt("want {head}\n") + pkt("deepen 0\n") + b"0000",
    pkt("want {head}\n") + pkt("deepen -1\n") + b"0000",
    pkt("want {head}\n") + b"0000" + pkt("have xyz\n") + pkt("done\n"),
    pkt("want {head}\n") + b"0000" + pkt("bogus\n"),
    pkt("want {head}\n") + b"0001",
])
def test_malformed_v0_requests_are_400(repo, body):  # noqa: ANN001
    response = _post(repo, body.replace(b"{head}", _head(repo).encode()))
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("body", [
    b"0014command=ls-refs\n",  # no flush
    pkt("command=nope\n") + b"0000",
    pkt("command=fetch\n") + b"0001" + b"0000",  # no want
    pkt("command=fetch\n") + b"0001" + pkt("want zz\n") + b"0000",
    pkt("command=fetch\n") + pkt("object-format=sha256\n") + b"0001" + pkt("want {head}\n") + b"0000",
    pkt("command=ls-refs\n") + b"0001" + pkt("mystery\n") + b"0000",
])
def test_malformed_v2_requests_are_400(repo, body):  # noqa: ANN001
    response = _post(repo, body.replace(b"{head}", _head(repo).encode()), HTTP_GIT_PROTOCOL="version=2")
    assert response.status_code == 400


@pytest.mark.parametrize("version", ["0", "2"])
def test_features_not_served_are_refused_in_words_git_prints(repo, version):  # noqa: ANN001
    want = pkt(f"want {_head(repo)}\n") + pkt("deepen-since 5\n")
    if version == "2":
        body, headers = pkt("command=fetch\n") + b"0001" + want + b"0000", {"HTTP_GIT_PROTOCOL": "version=2"}
    else:
        body, headers = want + b"0000", {}
    response = _post(repo, body, **headers)
    assert response.status_code == 200
    assert response.content.startswith(b"00") and b"ERR this server does not support deepen-since" in response.content


def test_wrong_method_content_type_and_encoding_are_4xx(repo):  # noqa: ANN001
    assert Client().get(f"/{repo.repo_id}.git/git-upload-pack").status_code == 405
    assert _post(repo, b"0000", content_type="text/plain").status_code == 415
    assert _post(repo, b"0000", HTTP_CONTENT_ENCODING="br").status_code == 400
    assert _post(repo, b"not gzip", HTTP_CONTENT_ENCODING="gzip").status_code == 400
    bomb = gzip.compress(b"0" * (upload_pack.REQUEST_MAX_BYTES + 10))
    assert _post(repo, bomb, HTTP_CONTENT_ENCODING="gzip").status_code == 400
    assert Client().get(f"/{repo.repo_id}.git/info/refs").status_code == 403  # dumb HTTP


def test_gzip_encoded_negotiation_gets_the_pack(repo):  # noqa: ANN001
    body = pkt(f"want {_head(repo)} side-band-64k\n") + b"0000" + pkt("done\n")
    response = _post(repo, gzip.compress(body), HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Type"] == RESULT
    data = b"".join(response.streaming_content)
    assert data.startswith(pkt("NAK\n"))
    assert b"\x01PACK" in data and data.endswith(b"0000")


def test_advertisement_v0_and_v2(repo):  # noqa: ANN001
    head = _head(repo)
    response = Client().get(f"/{repo.repo_id}.git/info/refs?service=git-upload-pack")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-git-upload-pack-advertisement"
    assert "no-cache" in response["Cache-Control"]
    body = response.content
    assert body.startswith(pkt("# service=git-upload-pack\n") + b"0000")
    assert f"{head} HEAD\0".encode() in body and b"symref=HEAD:refs/heads/main" in body
    assert f"{head} refs/heads/main\n".encode() in body
    v2 = Client().get(f"/{repo.repo_id}/info/refs?service=git-upload-pack", HTTP_GIT_PROTOCOL="version=2")
    assert v2.content.startswith(pkt("version 2\n"))
    assert pkt("fetch=shallow\n") in v2.content and pkt("ls-refs\n") in v2.content
    refs = _post(repo, pkt("command=ls-refs\n") + b"0001" + pkt("symrefs\n") + pkt("ref-prefix HEAD\n") + b"0000",
                 HTTP_GIT_PROTOCOL="version=2")
    assert refs.content == pkt(f"{head} HEAD symref-target:refs/heads/main\n") + b"0000"


def test_v0_negotiation_acks_common_haves_and_is_ready(repo, personas):  # noqa: ANN001
    """The answers of git's own upload-pack (stateless RPC, multi_ack_detailed + no-done) to the same request."""
    from registry.services.commits import AddInline, commit_create

    old = _head(repo)
    commit_create(actor=personas.owner, repo=repo, operations=[AddInline("b.txt", b"b\n")], title="two",
                  branch="main")
    new = _head(repo)
    unknown = "1" * 40
    body = (pkt(f"want {new} multi_ack_detailed no-done side-band-64k\n") + b"0000"
            + pkt(f"have {old}\n") + pkt(f"have {unknown}\n") + b"0000")
    data = b"".join(_post(repo, body).streaming_content)
    assert data.startswith(pkt(f"ACK {old} common\n") + pkt(f"ACK {unknown} ready\n") + pkt("NAK\n")
                           + pkt(f"ACK {old}\n"))
    assert b"\x01PACK\x00\x00\x00\x02\x00\x00\x00\x03" in data  # commit, root tree, b.txt
    # Not ready yet (no common have): only NAK, no pack.
    body = pkt(f"want {new} multi_ack_detailed no-done side-band-64k\n") + b"0000" + pkt(f"have {unknown}\n") + b"0000"
    assert _post(repo, body).content == pkt("NAK\n")


def test_private_repo_over_raw_http(make_repo, personas):  # noqa: ANN001
    from tests.fixtures.personas import make_key

    repo = make_repo("secret", private=True)
    url = f"/{repo.repo_id}.git/info/refs?service=git-upload-pack"
    anonymous = Client().get(url)
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Basic")
    outsider = "Basic " + base64.b64encode(f"x:{make_key(personas.outsider)}".encode()).decode()
    assert Client().get(url, HTTP_AUTHORIZATION=outsider).status_code == 404
    bearer = f"Bearer {make_key(personas.reader, scopes='read')}"
    assert Client().get(url, HTTP_AUTHORIZATION=bearer).status_code == 200
    assert Client().get(url, HTTP_AUTHORIZATION="Basic !!!").status_code == 401
