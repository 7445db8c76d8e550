"""How repo bytes are served: inert on the hub's origin (DESIGN.md, "User bytes are inert on the hub's origin").

An uploaded file belongs to its uploader, not to the hub. Served from the hub's origin under its own type, an .html,
.svg or .xhtml file would run script with the signed-in user's cookies, and an uploaded .js could be pulled into a
hub page with `<script src>` (the site CSP allows 'self'). So every response that carries repo bytes — /resolve,
the local store's signed URLs, and the type an S3 presigned URL asks for — takes its headers from here: a small
allow-list of inert types (text shown as text/plain, raster images, audio and video) may be shown inline; anything
else is `application/octet-stream` with `Content-Disposition: attachment`. `nosniff` stops a browser from guessing a
more dangerous type (an octet-stream is then never a script or a stylesheet), and the sandbox CSP keeps any document
rendered anyway from running script or loading anything. huggingface_hub never reads Content-Type.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from django.utils.http import content_disposition_header

TEXT = "text/plain; charset=utf-8"
DOWNLOAD = "application/octet-stream"
SANDBOX_CSP = "sandbox; default-src 'none'"
# Suffix → the type the bytes are served inline as. Text formats become text/plain, which with nosniff is neither
# markup, script nor style; images are the raster formats browsers never run script in (SVG is not one of them);
# audio and video are played, never run.
INLINE_TYPES = {
    **dict.fromkeys((".txt", ".md", ".markdown", ".rst", ".json", ".jsonl", ".csv", ".tsv", ".yaml", ".yml",
                     ".toml", ".cfg", ".ini", ".py", ".log"), TEXT),
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    # Discussion attachments (registry.services.attachments: the type sniffed from the bytes names the file) and
    # repo files alike: media a browser plays, never runs.
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
}


def content_headers(filename: str | None, *, download: bool = False) -> dict[str, str]:
    """Content-Type, Content-Disposition, X-Content-Type-Options and Content-Security-Policy for repo bytes saved
    as `filename` (a path's last segment is used). No filename (an unnamed object, e.g. a xorb) or `download`
    (the portal's Download button, `?download=true`) always makes an attachment."""
    name = PurePosixPath(filename).name if filename else ""
    inline_type = INLINE_TYPES.get(PurePosixPath(name).suffix.lower()) if name else None
    inline = inline_type is not None and not download
    return {
        "Content-Type": inline_type if inline else DOWNLOAD,
        "Content-Disposition": content_disposition_header(not inline, name) or "attachment",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX_CSP,
    }
