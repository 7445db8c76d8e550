"""Model cards and license texts as safe HTML: Markdown, then nh3 with an allow-list.

Cards are written by anyone who can push to a repo, so their HTML is untrusted: no scripts, no
event handlers, no style, no javascript:/data: links. Relative links and images point into the
repo (`blob` pages and `resolve` downloads of the same revision).
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import markdown as md
import nh3

from registry.cards import FRONT_MATTER_RE, CardError, parse_card

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "s",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "code": {"class"},
    "div": {"align"},
    "p": {"align"},
    "abbr": {"title"},
    "ol": {"start"},
    "h1": {"id"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "h5": {"id"}, "h6": {"id"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# Comments (discussions) embed media only from this hub's attachments (`upload_attachment`, api/hf/attachments):
# an image from elsewhere would tell another site who reads the thread, and when.
COMMENT_TAGS = ALLOWED_TAGS | {"audio", "video"}
COMMENT_ATTRIBUTES = {**ALLOWED_ATTRIBUTES, "audio": {"src", "controls"}, "video": {"src", "controls"}}
MEDIA_TAGS = {"img", "audio", "video"}
ATTACHMENT_PATH_RE = re.compile(r"\A/uploads/[0-9a-f]{32}\.[a-z0-9]{2,4}\Z")
EXTENSIONS = ["fenced_code", "tables", "sane_lists", "toc"]


def strip_front_matter(text: str) -> str:
    """The card body without its YAML header, even when the YAML is broken."""
    try:
        return parse_card(text).body
    except CardError:
        match = FRONT_MATTER_RE.match(text)
        return text[match.end():] if match else text


def _is_relative(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith(("#", "/"))


def _make_attribute_filter(repo_base: str | None, revision: str):  # noqa: ANN202
    """Point relative links at the repo: images at `resolve`, links at `blob` pages."""

    def _filter(tag: str, attribute: str, value: str) -> str | None:
        if tag == "code" and attribute == "class":
            return value if value.startswith("language-") else None
        if repo_base and attribute in {"href", "src"} and value and _is_relative(value):
            raw = value.split("#", 1)[0].split("?", 1)[0]
            parts = [p for p in raw.split("/") if p not in {"", "."}]
            if not parts or ".." in parts:
                return None
            path = "/".join(parts)
            kind = "resolve" if attribute == "src" else "blob"
            return f"{repo_base}/{kind}/{quote(revision, safe='')}/{quote(path)}"
        return value

    return _filter


def attachment_src(value: str) -> str | None:
    """The hub-relative path of an attachment URL (`http(s)://<any host>/uploads/<uid>.<ext>` or the path alone),
    so the browser asks this hub whatever host the writer's client used; None for anything else."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("", "http", "https") or parts.query or parts.fragment:
        return None
    if not parts.scheme and parts.netloc:
        return None  # //host/...: protocol-relative, another site
    return parts.path if ATTACHMENT_PATH_RE.match(parts.path) else None


def _comment_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag in MEDIA_TAGS and attribute == "src":
        return attachment_src(value)
    if tag == "code" and attribute == "class":
        return value if value.startswith("language-") else None
    return value


def sanitize_html(html: str, *, repo_base: str | None = None, revision: str = "main",
                  comment: bool = False) -> str:
    return nh3.clean(
        html,
        tags=COMMENT_TAGS if comment else ALLOWED_TAGS,
        attributes=COMMENT_ATTRIBUTES if comment else ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=_comment_filter if comment else _make_attribute_filter(repo_base, revision),
    )


def render_markdown(text: str, *, repo_base: str | None = None, revision: str = "main") -> str:
    """Markdown → sanitised HTML (safe to mark safe in templates)."""
    html = md.markdown(text or "", extensions=EXTENSIONS, output_format="html")
    return sanitize_html(html, repo_base=repo_base, revision=revision)


def render_comment(text: str) -> str:
    """A discussion comment → sanitised HTML: as a card, but images, audio and video only from this hub's
    attachments (`/uploads/…`)."""
    html = md.markdown(text or "", extensions=EXTENSIONS, output_format="html")
    return sanitize_html(html, comment=True)


def render_card(text: str, *, repo_base: str | None = None, revision: str = "main") -> str:
    """A model card (README.md): front matter dropped, Markdown rendered, HTML sanitised."""
    return render_markdown(strip_front_matter(text), repo_base=repo_base, revision=revision)
