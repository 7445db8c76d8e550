"""/.well-known/: the public half of the key that signs release manifests, and security.txt (RFC 9116)."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parseaddr

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
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


@require_GET
def security_txt(request: HttpRequest) -> HttpResponse:
    """Where to report a vulnerability: SECURITY_CONTACT (a mailto: or https: address; a bare address is an email),
    else DEFAULT_FROM_EMAIL. `Expires` is a year ahead, as the RFC asks, since the file is made on each request."""
    contact = settings.SECURITY_CONTACT or settings.DEFAULT_FROM_EMAIL
    if not contact.startswith(("mailto:", "https:")):
        contact = f"mailto:{parseaddr(contact)[1] or contact}"  # "Hub <hub@example.org>" → the address
    expires = (timezone.now() + timedelta(days=365)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    lines = [
        f"Contact: {contact}",
        f"Expires: {expires}",
        "Preferred-Languages: en, ko",
        f"Canonical: {request.build_absolute_uri('/.well-known/security.txt')}",
    ]
    response = HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    return response
