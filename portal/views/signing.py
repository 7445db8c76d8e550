"""/.well-known/release-signing-key: the public half of the key that signs release manifests."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from registry import signing


@require_GET
def release_signing_key(request: HttpRequest) -> HttpResponse:
    try:
        pem = signing.signing_public_key_pem()
    except signing.SigningKeyMissing as exc:
        return HttpResponse(f"{exc}\n", status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(pem, content_type="application/x-pem-file")
    response["X-Signing-Key-Id"] = signing.key_id()
    response["Cache-Control"] = "public, max-age=300"
    return response
