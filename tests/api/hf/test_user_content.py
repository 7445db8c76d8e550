"""User bytes are inert on the hub's origin: the headers of every response that carries repo bytes.

An uploaded .html/.svg/.xhtml/.xml/.js must never be served from the hub's origin as a type a browser renders or
runs: outside a small allow-list (text as text/plain, raster images) it is an `application/octet-stream`
attachment, always with `nosniff` and a sandbox CSP. Routes: /resolve (inline files, local-store files streamed
by the hub, S3 redirects), the local store's signed URLs under /_blobs/, and the presigned S3 URL itself. With
USER_CONTENT_URL set, local-store files are served from that origin instead, and the stock client still gets
byte-identical files. (The browser side of the same rule: tests/browser/test_user_content.py.)
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from huggingface_hub import hf_hub_download

from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, AddInline, commit_create
from registry.storage import blob_key, reset_store

pytestmark = pytest.mark.django_db

SANDBOX = "sandbox; default-src 'none'"
# Uploads a browser would render as markup, run as script or apply as style if served under their own type.
ACTIVE = {
    "page.html": b"<!doctype html><script src='evil.js'></script><p>hi",
    "page.htm": b"<script>alert(1)</script>",
    "image.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "doc.xhtml": b'<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>',
    "feed.xml": b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>',
    "evil.js": b"window.pwned = true;",
    "module.mjs": b"window.pwned = true;",
    "style.css": b"body { background: red }",
    "paper.pdf": b"%PDF-1.4 /JS (app.alert(1))",
    "LICENSE": b"<script>alert(1)</script>",
}
# The allow-list: shown inline, as text/plain or as the raster image it is.
INERT = {
    "notes.txt": "text/plain; charset=utf-8",
    "README.md": "text/plain; charset=utf-8",
    "config.json": "text/plain; charset=utf-8",
    "logo.png": "image/png",
    "photo.JPG": "image/jpeg",
}


def assert_download(response, filename: str) -> None:
    assert response["Content-Type"] == "application/octet-stream", filename
    assert response["Content-Disposition"].startswith("attachment; filename"), filename
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == SANDBOX


def seed_inline(personas, make_repo, files: dict[str, bytes], name: str = "tiny"):
    repo = make_repo(name)
    commit_create(actor=personas.owner, repo=repo, title="files",
                  operations=[AddInline(path, content) for path, content in files.items()])
    return repo


def seed_blobs(personas, make_repo, files: dict[str, bytes], name: str = "tiny"):
    repo = make_repo(name)
    operations = []
    for path, content in files.items():
        blob = blob_ingest_stream(stream=io.BytesIO(content), repo=repo)
        operations.append(AddBlob(path, blob.sha256, blob.size))
    commit_create(actor=personas.owner, repo=repo, title="files", operations=operations)
    return repo


# --- /resolve, inline files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_resolve_serves_active_inline_files_as_sandboxed_downloads(client, personas, make_repo, method):
    seed_inline(personas, make_repo, ACTIVE)
    for filename, content in ACTIVE.items():
        response = client.generic(method, f"/acme/tiny/resolve/main/{filename}")
        assert response.status_code == 200, filename
        assert_download(response, filename)
        assert response["Content-Length"] == str(len(content))
        if method == "GET":
            assert response.content == content  # the bytes themselves are untouched


def test_resolve_shows_allow_listed_types_inline_but_still_sandboxed(client, personas, make_repo):
    seed_inline(personas, make_repo, {name: b"\x89PNG plain" for name in INERT})
    for filename, content_type in INERT.items():
        response = client.get(f"/acme/tiny/resolve/main/{filename}")
        assert response["Content-Type"] == content_type, filename
        assert response["Content-Disposition"].startswith("inline;"), filename
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"] == SANDBOX
        # The portal's Download button (and HF's ?download=true) always gets an attachment.
        forced = client.get(f"/acme/tiny/resolve/main/{filename}?download=true")
        assert_download(forced, filename)


def test_a_range_of_an_active_file_is_sandboxed_too(client, personas, make_repo):
    seed_inline(personas, make_repo, {"page.html": ACTIVE["page.html"]})
    response = client.get("/acme/tiny/resolve/main/page.html", HTTP_RANGE="bytes=0-14")
    assert (response.status_code, response.content) == (206, ACTIVE["page.html"][:15])
    assert_download(response, "page.html")


# --- /resolve, files in the local store (streamed by the hub) -------------------------------------------------


def test_resolve_streams_active_store_files_as_sandboxed_downloads(client, personas, make_repo, local_store):
    files = {name: ACTIVE[name] for name in ("page.html", "image.svg", "evil.js", "doc.xhtml")}
    seed_blobs(personas, make_repo, files)
    for filename, content in files.items():
        response = client.get(f"/acme/tiny/resolve/main/{filename}")
        assert response.status_code == 200, filename
        assert_download(response, filename)
        assert b"".join(response.streaming_content) == content
        head = client.head(f"/acme/tiny/resolve/main/{filename}")
        assert_download(head, filename)
        assert head["X-Linked-Size"] == str(len(content))


# --- the local store's signed URLs (/_blobs/get/…) --------------------------------------------------------------


def test_signed_blob_urls_serve_active_types_as_sandboxed_downloads(client, local_store):
    local_store.put_stream(blob_key("ab" * 32), io.BytesIO(ACTIVE["page.html"]))
    for filename in ("page.html", "image.svg", "evil.js"):
        response = client.get(local_store.presigned_get_url(blob_key("ab" * 32), expires=60, filename=filename))
        assert response.status_code == 200
        assert_download(response, filename)
        assert b"".join(response.streaming_content) == ACTIVE["page.html"]
    unnamed = client.get(local_store.presigned_get_url(blob_key("ab" * 32), expires=60))
    assert unnamed["Content-Type"] == "application/octet-stream"
    assert unnamed["Content-Disposition"] == "attachment"
    assert (unnamed["X-Content-Type-Options"], unnamed["Content-Security-Policy"]) == ("nosniff", SANDBOX)
    png = client.get(local_store.presigned_get_url(blob_key("ab" * 32), expires=60, filename="logo.png"))
    assert (png["Content-Type"], png["Content-Security-Policy"]) == ("image/png", SANDBOX)


# --- S3: the presigned URL itself names an inert type ----------------------------------------------------------


@pytest.mark.s3
def test_s3_presigned_urls_override_the_stored_type(s3_store):
    # An uploader's presigned PUT may have set any Content-Type on the object; the GET URL must not serve it.
    s3_store.client.put_object(Bucket=s3_store.bucket, Key=blob_key("cd" * 32), Body=ACTIVE["page.html"],
                               ContentType="text/html")
    for filename in ("page.html", "image.svg", "evil.js"):
        response = httpx.get(s3_store.presigned_get_url(blob_key("cd" * 32), expires=60, filename=filename))
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream", filename
        assert response.headers["content-disposition"].startswith("attachment;"), filename
        assert response.content == ACTIVE["page.html"]
    response = httpx.get(s3_store.presigned_get_url(blob_key("cd" * 32), expires=60, filename="logo.png"))
    assert response.headers["content-type"] == "image/png"


@pytest.mark.s3
def test_resolve_redirects_to_an_s3_url_that_serves_an_inert_type(client, personas, make_repo, s3_store):
    seed_blobs(personas, make_repo, {"page.html": ACTIVE["page.html"]})
    response = client.get("/acme/tiny/resolve/main/page.html")
    assert response.status_code == 302
    fetched = httpx.get(response["Location"])
    assert fetched.content == ACTIVE["page.html"]
    assert fetched.headers["content-type"] == "application/octet-stream"
    assert fetched.headers["content-disposition"].startswith("attachment;")


# --- USER_CONTENT_URL: a separate origin for the local store's bytes -------------------------------------------


@pytest.fixture
def user_content(settings, local_store):
    settings.USER_CONTENT_URL = "http://usercontent.test"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "usercontent.test"]
    reset_store()
    return settings.USER_CONTENT_URL


def test_store_files_redirect_to_the_user_content_origin(client, personas, make_repo, user_content):
    repo = seed_blobs(personas, make_repo, {"page.html": ACTIVE["page.html"]})
    commit_create(actor=personas.owner, repo=repo, title="inline",
                  operations=[AddInline("small.html", b"<script>alert(1)</script>")])
    head = client.head("/acme/tiny/resolve/main/page.html")
    assert head.status_code == 302
    location = urlsplit(head["Location"])
    assert f"{location.scheme}://{location.netloc}" == user_content
    # What huggingface_hub reads from a cross-origin redirect: the linked etag and size, and the commit.
    assert head["X-Linked-Size"] == str(len(ACTIVE["page.html"]))
    assert head["X-Linked-Etag"].strip('"') and head["X-Repo-Commit"]
    fetched = client.get(location.path, HTTP_HOST=location.netloc)
    assert b"".join(fetched.streaming_content) == ACTIVE["page.html"]
    assert_download(fetched, "page.html")
    # Small inline files are still answered by the hub itself, inert.
    inline = client.get("/acme/tiny/resolve/main/small.html")
    assert (inline.status_code, inline.content) == (200, b"<script>alert(1)</script>")
    assert_download(inline, "small.html")


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_stock_client_downloads_through_the_user_content_origin(live_server, personas, make_repo, settings,
                                                                    local_store, tmp_path):
    # Same server, another origin: 127.0.0.1 for localhost (or the other way round).
    host = urlsplit(live_server.url).hostname
    settings.USER_CONTENT_URL = live_server.url.replace(host, "127.0.0.1" if host == "localhost" else "localhost")
    reset_store()
    weights = bytes(range(256)) * 300
    seed_blobs(personas, make_repo, {"model.safetensors": weights, "page.html": ACTIVE["page.html"]})
    head = httpx.head(f"{live_server.url}/acme/tiny/resolve/main/model.safetensors")
    assert head.status_code == 302 and head.headers["location"].startswith(settings.USER_CONTENT_URL)
    for filename, content in (("model.safetensors", weights), ("page.html", ACTIVE["page.html"])):
        path = hf_hub_download("acme/tiny", filename, endpoint=live_server.url, token=False, cache_dir=tmp_path)
        assert open(path, "rb").read() == content
