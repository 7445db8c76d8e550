"""Discussion attachments (HF_COMMUNITY.md §6): `upload_attachment` → `POST /uploads` → a URL serving the bytes
inert; only images, videos and sounds by their magic bytes, within their size limits, per-user rate and quota; and
comments embed media from these URLs only."""

from __future__ import annotations

import re

import httpx2 as httpx
import pytest
from django.core.cache import cache
from django.test import Client
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from portal.markdown import render_comment
from registry.models import Attachment
from registry.services import attachments as attachment_service
from registry.services.attachments import sniff
from registry.services.discussions import discussion_create
from registry.services.repos import repo_create
from registry.storage import get_store
from tests.fixtures.personas import make_key

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 2000
HTML = b"<!doctype html><script>alert(document.cookie)</script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'


@pytest.fixture(autouse=True)
def fresh_counters():  # noqa: ANN201
    cache.clear()
    yield
    cache.clear()


def write(tmp_path, name: str, content: bytes):  # noqa: ANN001, ANN201
    path = tmp_path / name
    path.write_bytes(content)
    return path


def stored_objects() -> int:
    store = get_store()
    return sum(1 for a in Attachment.objects.all() if store.head(a.storage_key) is not None)


@pytest.mark.live
def test_the_stock_client_uploads_and_the_url_serves_inert_bytes(hub, tmp_path):  # noqa: ANN001
    api = hub.api("outsider")  # anyone signed in, no role in any repo needed
    url = api.upload_attachment(write(tmp_path, "screenshot.png", PNG))
    assert re.fullmatch(rf"{re.escape(hub.url)}/uploads/[0-9a-f]{{32}}\.png", url)
    served = httpx.get(url)  # no credentials: the URL is the capability, as on the Hub
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    row = Attachment.objects.get()
    assert row.uploader == hub.p.outsider and row.size == len(PNG) and row.content_type == "image/png"

    video = api.upload_attachment(write(tmp_path, "demo.mp4", MP4))
    assert video.endswith(".mp4")
    played = httpx.get(video)
    assert played.headers["Content-Type"] == "video/mp4" and played.content == MP4
    assert played.headers["X-Content-Type-Options"] == "nosniff"

    # The URL goes into a comment and renders there (as a path on this hub).
    repo = repo_create(actor=hub.p.owner, namespace="acme", name="tiny")
    discussion_create(actor=hub.p.outsider, repo=repo, title="Rendering bug", description=f"![shot]({url})")
    details = api.get_discussion_details("acme/tiny", 1)
    path = url.removeprefix(hub.url)
    assert f'src="{path}"' in details.events[0]._event["data"]["latest"]["html"]


@pytest.mark.live
def test_hostile_files_are_refused_whatever_they_are_called(hub, tmp_path):  # noqa: ANN001
    api = hub.api("outsider")
    for name, content in (("innocent.png", HTML), ("logo.png", SVG), ("clip.mp4", b"MZ\x90\x00" + b"\x00" * 64),
                          ("song.mp3", "\ufeff<html>".encode("utf-16")), ("empty.png", b"")):
        with pytest.raises(HfHubHTTPError) as refused:
            api.upload_attachment(write(tmp_path, name, content))
        assert refused.value.response.status_code == 400, name
    assert Attachment.objects.count() == 0
    # Signed in with a write-scope key, or nothing.
    with pytest.raises(HfHubHTTPError) as anonymous:
        HfApi(endpoint=hub.url, token=False).upload_attachment(write(tmp_path, "a.png", PNG))
    assert anonymous.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as read_only:
        HfApi(endpoint=hub.url, token=make_key(hub.p.outsider, scopes="read")).upload_attachment(
            write(tmp_path, "a.png", PNG))
    assert read_only.value.response.status_code == 403
    assert Attachment.objects.count() == 0


def test_size_limits_quota_and_rate(client, personas, settings, monkeypatch):  # noqa: ANN001
    auth = {"HTTP_AUTHORIZATION": f"Bearer {make_key(personas.member)}"}

    def post(body: bytes, content_type: str = "image/png"):  # noqa: ANN202
        return client.post("/uploads", body, content_type=content_type, **auth)

    # Past the limit while streaming (the declared length is within it): stopped, nothing left in the store.
    monkeypatch.setattr(attachment_service, "IMAGE_MAX_BYTES", 600)
    monkeypatch.setattr(attachment_service, "PNG", attachment_service.Kind("image/png", ".png", 600))
    too_big = post(PNG)
    assert too_big.status_code == 413 and too_big["X-Error-Code"] == "TooLarge"
    assert Attachment.objects.count() == 0 and not [p for p in get_store().root.rglob("*") if p.is_file()]
    monkeypatch.undo()
    huge = client.post("/uploads", PNG, content_type="image/png", CONTENT_LENGTH=str(60 * 1000 * 1000), **auth)
    assert huge.status_code == 413  # refused on its declared length, before reading

    settings.ATTACHMENT_QUOTA_BYTES = len(PNG) * 2
    assert post(PNG).status_code == 200 and post(PNG).status_code == 200
    over = post(PNG)
    assert over.status_code == 413 and "quota" in over["X-Error-Message"]

    settings.ATTACHMENT_QUOTA_BYTES = 10**9
    settings.ATTACHMENT_UPLOADS_PER_MINUTE = 5  # five were counted above
    limited = post(PNG)
    assert limited.status_code == 429 and limited["X-Error-Code"] == "RateLimited" and "Retry-After" in limited
    assert Attachment.objects.count() == 2 and stored_objects() == 2
    assert post(b"x", content_type="text/html").status_code == 429  # counted before the body is read


def test_a_browser_session_needs_the_csrf_token(personas):  # noqa: ANN001
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(personas.outsider)
    assert browser.post("/uploads", PNG, content_type="image/png").status_code == 403
    page = browser.get("/settings/tokens")
    token = page.cookies["csrftoken"].value
    ok = browser.post("/uploads", PNG, content_type="image/png", HTTP_X_CSRFTOKEN=token)
    assert ok.status_code == 200 and "/uploads/" in ok.content.decode()


def test_unknown_attachments_are_404(client):  # noqa: ANN001
    assert client.get("/uploads/" + "0" * 32 + ".png").status_code == 404
    assert client.get("/uploads/../etc/passwd").status_code == 404


def test_the_sniffer_knows_media_by_their_first_bytes():
    assert sniff(PNG).content_type == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF").content_type == "image/jpeg"
    assert sniff(b"GIF89a\x01\x00").content_type == "image/gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ").content_type == "image/webp"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ").content_type == "audio/wav"
    assert sniff(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81").content_type == "video/webm"
    assert sniff(b"OggS\x00\x02").content_type == "audio/ogg"
    assert sniff(b"ID3\x04\x00").content_type == "audio/mpeg"
    assert sniff(b"\xff\xfb\x90\x64").content_type == "audio/mpeg"
    assert sniff(b"\x00\x00\x00\x14ftypqt  ").content_type == "video/quicktime"
    for hostile in (HTML, SVG, b"%PDF-1.7", b"\xff\xfe<\x00h\x00", b"<?xml version='1.0'?><svg/>", b"PK\x03\x04"):
        assert sniff(hostile) is None


def test_comments_embed_media_only_from_attachments():
    uid = "a" * 32
    html = render_comment(f"![a](https://hub.example/uploads/{uid}.png) ![b](https://evil.example/track.png) "
                          f"![c](/uploads/{uid}.gif) ![d](//evil.example/uploads/{uid}.png) "
                          f'<audio controls src="/uploads/{uid}.mp3"></audio> <video src="https://x.example/v.mp4">'
                          f"</video> ![e](javascript:alert(1))")
    assert f'src="/uploads/{uid}.png"' in html and f'src="/uploads/{uid}.gif"' in html
    assert f'<audio controls="" src="/uploads/{uid}.mp3">' in html
    assert "evil.example" not in html and "x.example" not in html and "javascript" not in html
    assert html.count("src=") == 3


@pytest.mark.live
def test_on_s3_the_url_redirects_to_a_signed_url_naming_the_sniffed_type(hub, s3_store, tmp_path, monkeypatch):  # noqa: ANN001
    url = hub.api("outsider").upload_attachment(write(tmp_path, "screenshot.png", PNG))
    first = httpx.get(url)
    assert first.status_code == 302 and "X-Amz-Signature" in first.headers["Location"]
    served = httpx.get(first.headers["Location"])
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["Content-Type"] == "image/png"
    # A body that outgrows its limit while streaming into S3 leaves no object behind.
    monkeypatch.setattr(attachment_service, "PNG", attachment_service.Kind("image/png", ".png", 600))
    with pytest.raises(HfHubHTTPError) as too_big:
        hub.api("outsider").upload_attachment(write(tmp_path, "big.png", PNG))
    assert too_big.value.response.status_code == 413 and Attachment.objects.count() == 1
    listed = s3_store.client.list_objects_v2(Bucket=s3_store.bucket, Prefix="attachments/")
    assert [o["Key"] for o in listed.get("Contents", [])] == [Attachment.objects.get().storage_key]


def test_an_admin_deletes_an_attachment_with_its_bytes_and_an_audit_event(client, personas,  # noqa: ANN001
                                                                         django_capture_on_commit_callbacks):
    from django.urls import reverse

    from registry.models import AuditEvent
    from tests.fixtures.personas import make_user

    auth = {"HTTP_AUTHORIZATION": f"Bearer {make_key(personas.member)}"}
    url = client.post("/uploads", PNG, content_type="image/png", **auth).content.decode().strip()
    path = url.split("testserver", 1)[1]
    attachment = Attachment.objects.get()
    assert client.get(path).status_code == 200
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    changelist = reverse("admin:registry_attachment_changelist")
    assert attachment.uid in client.get(changelist, {"q": "mina"}).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "delete_attachments", "_selected_action": [attachment.pk]})
    assert not Attachment.objects.exists() and get_store().head(attachment.storage_key) is None
    assert AuditEvent.objects.get(action="attachment.delete").target_label == attachment.filename
    assert client.get(path).status_code == 404


def test_the_thread_page_shows_attachments_and_drops_other_images(client, personas, make_repo):  # noqa: ANN001
    uid = "b" * 32
    repo = make_repo("tiny")
    discussion_create(actor=personas.reader, repo=repo, title="Look",
                      description=f"![shot](http://testserver/uploads/{uid}.png) ![px](https://evil.example/p.gif)")
    page = client.get("/acme/tiny/discussions/1")
    html = page.content.decode()
    assert f'src="/uploads/{uid}.png"' in html and "evil.example" not in html
    assert "media-src 'self' https:" in page["Content-Security-Policy"]
