"""The one name policy: repo, organisation and user-namespace names, branch and tag names, paths in a repo.

Every place that accepts a name — services, forms, the account sign-up, the URL patterns of api/hf, api/v1 and
the portal — takes its rule from here, so a name the hub accepts is a name every page and route can show.

* **Repo, organisation and namespace names** (`check_name`, `NAME_PATTERN`): as on the Hugging Face Hub — ASCII
  letters, digits, '-', '_' and '.'; not starting or ending with '-' or '.'; no '--' or '..'; at most 96
  characters; not ending in '.git' (the Git URL suffix). Uniqueness is case-insensitive within a namespace
  (repo_create/repo_move and a functional unique constraint on ModelRepo).
* **Branch and tag names** (`check_ref_name`): `git check-ref-format` with one-level names allowed, restricted to
  printable ASCII so that confusables ('main' + U+202E, fullwidth 'ｍａｉｎ') can't pose as other refs; 'HEAD', a
  leading '-', a 'refs/' prefix and 40-hex names (they would shadow commit ids) are refused too.
* **Paths in a repo** (`check_path`): relative POSIX paths without NUL/control characters, lone surrogates,
  backslashes, or empty, '.', '..' or '.git' segments, at most 1000 UTF-8 bytes.
* **Lookups** (`lookup_ok`, `search_text`): text from a URL or query that no rule above can accept (NUL, lone
  surrogates, over-long) names nothing, so readers answer "not found" without asking the database (PostgreSQL
  refuses NUL in a query outright).
"""

from __future__ import annotations

import re
import unicodedata

from django.utils.translation import gettext, gettext_noop

from registry.exceptions import InvalidInput

NAME_MAX_LENGTH = 96
# Without anchors, so the URL patterns can embed it. The lookahead that refuses '--' and '..' scans only name
# characters, so it never looks past the name into the rest of a URL.
NAME_PATTERN = (
    r"(?![.-])(?![A-Za-z0-9_.-]*(?:--|\.\.))"
    rf"[A-Za-z0-9_.-]{{1,{NAME_MAX_LENGTH}}}"
    r"(?<![.-])(?<!\.[Gg][Ii][Tt])"
)
NAME_RE = re.compile(rf"\A{NAME_PATTERN}\Z")
NAME_RULE = gettext_noop(
    "use ASCII letters, digits, '-', '_' and '.', at most 96 characters, not starting or ending with '-' or '.', "
    "without '--' or '..', not ending in '.git'"
)
# Release versions in URLs (semantic versions; registry.services.releases checks the full grammar on request).
VERSION_PATTERN = r"[0-9A-Za-z.+-]{1,64}"



def url_group(group: str, pattern: str = NAME_PATTERN) -> str:
    """A named group for the URL patterns (api/hf/urls.py, portal/web_urls.py): `(?P<group>NAME_PATTERN)`."""
    return f"(?P<{group}>{pattern})"


class NameConverter:
    """Path converter for `path()` routes (api/v1/urls.py registers it as `hubname`): exactly the names above."""

    regex = NAME_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class VersionConverter(NameConverter):
    regex = VERSION_PATTERN


# First segments of the hub's own routes: a user or organisation of that name would be shadowed by them.
RESERVED_NAMESPACES = frozenset({
    "admin", "api", "models", "settings", "static", "accounts", "account", "organizations",
    "healthz", "readyz", "datasets", "spaces", "kernels", "new", "docs", "login", "logout", "signup", "_blobs",
    "cas", "media", "search", "releases", ".well-known", "i18n",
    "uploads",  # POST /uploads: discussion attachments (api/hf/attachments)
    "v1",  # POST /v1/telemetry: hf_xet posts its telemetry to the origin root (api/cas)
})

REF_MAX_LENGTH = 200
DEFAULT_BRANCH = "main"
_REF_FORBIDDEN = set(" ~^:?*[\\")
_HEX40_RE = re.compile(r"\A[0-9a-fA-F]{40}\Z")

PATH_MAX_BYTES = 1000
# Anything that names nothing: longer than any path, ref or name the hub stores.
LOOKUP_MAX_LENGTH = 2048
SEARCH_MAX_LENGTH = 200


def _shown(value: object) -> str:
    """The value as an error message quotes it: escaped, so no control character reaches a header or a log."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "…"


# --- repo, organisation and user-namespace names ---------------------------------------------------


def name_ok(value: object) -> bool:
    return isinstance(value, str) and NAME_RE.match(value) is not None


def check_name(value: object, *, what: str = "name") -> str:
    """`value` if it is a valid repo/organisation/user name, else InvalidInput saying the rule."""
    if not name_ok(value):
        raise InvalidInput(gettext("%(shown)s is not a valid %(what)s: %(rule)s")
            % {"shown": _shown(value), "what": gettext(what), "rule": gettext(NAME_RULE)})
    return value  # type: ignore[return-value]


def repo_id_ok(value: object) -> bool:
    """`namespace/name`, each part a valid name (a repo id here or on another Hugging Face-compatible hub)."""
    return isinstance(value, str) and value.count("/") == 1 and all(name_ok(part) for part in value.split("/"))


def check_namespace(value: object) -> str:
    """A name a user or organisation may own: the name rule, and none of the hub's own first URL segments."""
    check_name(value, what="namespace")
    if value.lower() in RESERVED_NAMESPACES:  # type: ignore[union-attr]
        raise InvalidInput(gettext("%(value)r is a reserved name") % {"value": value})
    return value  # type: ignore[return-value]


def name_suggestion(text: object) -> str:
    """A valid name made from free text (a person's name, an email address), or '' when nothing is left."""
    if not isinstance(text, str):
        return ""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().split("@")[0]
    text = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)
    text = re.sub(r"[.-]{2,}", "-", text).strip(".-")[: NAME_MAX_LENGTH - 16].rstrip(".-")
    return text if name_ok(text) else ""


# --- branch and tag names ----------------------------------------------------------------------------


def ref_name_problem(name: object) -> str | None:
    """Why `name` can't be a branch or tag (None when it can)."""
    if not isinstance(name, str) or not name:
        return "it is empty"
    if len(name) > REF_MAX_LENGTH:
        return f"it is longer than {REF_MAX_LENGTH} characters"
    if not name.isascii() or not name.isprintable():
        return "only printable ASCII characters are allowed (no control characters, no look-alike letters)"
    bad = sorted(_REF_FORBIDDEN.intersection(name))
    if bad:
        return f"it contains {' '.join(repr(c) for c in bad)}"
    if name == "HEAD" or name == "@":
        return f"{name!r} is reserved"
    if name.startswith("-"):
        return "it starts with '-'"
    if name.startswith("refs/"):
        return "write the short name, without 'refs/'"
    if ".." in name or "@{" in name or "//" in name:
        return "it contains '..', '@{' or '//'"
    if name.startswith("/") or name.endswith(("/", ".")):
        return "it starts with '/' or ends with '/' or '.'"
    if any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        return "a part starts with '.' or ends with '.lock'"
    if _HEX40_RE.match(name):
        return "it looks like a commit id"
    return None


def check_ref_name(name: object) -> str:
    problem = ref_name_problem(name)
    if problem is not None:
        raise InvalidInput(gettext("%(shown)s is not a valid branch or tag name: %(problem)s")
            % {"shown": _shown(name), "problem": problem})
    return name  # type: ignore[return-value]


# --- paths in a repo ---------------------------------------------------------------------------------


def _bad_character(text: str) -> str | None:
    """The first character no name, ref or path may hold: C0/C1 controls, DEL, lone surrogates, line and
    paragraph separators."""
    for ch in text:
        if unicodedata.category(ch) in {"Cc", "Cs", "Zl", "Zp"}:
            return ch
    return None


def check_path(path: object) -> str:
    """A repo-relative POSIX path, checked (not rewritten: 'a/./b' is refused, not normalised)."""
    if not isinstance(path, str) or not path:
        raise InvalidInput(gettext("invalid path %(shown)s: a path is required") % {"shown": _shown(path)})
    if _bad_character(path) is not None:
        raise InvalidInput(gettext("path %(shown)s contains a control character or an unpaired surrogate")
            % {"shown": _shown(path)})
    if "\\" in path:
        raise InvalidInput(gettext("path %(shown)s contains a backslash: use '/' between folders")
            % {"shown": _shown(path)})
    if path.startswith("/"):
        raise InvalidInput(gettext("absolute paths are not allowed: %(shown)s") % {"shown": _shown(path)})
    parts = path.split("/")
    if any(part in {"", ".", ".."} for part in parts):
        raise InvalidInput(gettext("path %(shown)s must not contain empty, '.' or '..' segments")
            % {"shown": _shown(path)})
    if ".git" in parts:
        raise InvalidInput(gettext("paths inside .git are not allowed: %(shown)s") % {"shown": _shown(path)})
    if len(path.encode()) > PATH_MAX_BYTES:
        raise InvalidInput(gettext("path is longer than %(PATH_MAX_BYTES)s bytes") % {"PATH_MAX_BYTES": PATH_MAX_BYTES})
    return path


def folder_collisions(paths: set[str] | dict[str, object], touched: list[str]) -> str | None:
    """A message for the first touched path that is both a file and a folder in the tree `paths` (None if none).

    'a' and 'a/b' can't both be files: a checkout can't hold them, and snapshot_download drops one.
    """
    folders: set[str] = set()
    for path in paths:
        cut = path.rfind("/")
        while cut > 0:
            folder = path[:cut]
            if folder in folders:
                break
            folders.add(folder)
            cut = path.rfind("/", 0, cut)
    for path in touched:
        if path in folders:
            return gettext("%(path)r is a file here but a folder in the repo's tree: a path can't be both") % {
                "path": path}
        cut = path.rfind("/")
        while cut > 0:
            if path[:cut] in paths:
                return gettext("%(path)r needs a folder %(folder)r, which is a file in the repo's tree") % {
                    "path": path, "folder": path[:cut]}
            cut = path.rfind("/", 0, cut)
    return None


# --- text from requests --------------------------------------------------------------------------------


def lookup_ok(value: object) -> bool:
    """Whether `value` could name something stored (a repo, ref, path): text without NUL or lone surrogates,
    of bounded length. Readers answer "not found" for anything else without a query."""
    if not isinstance(value, str) or len(value) > LOOKUP_MAX_LENGTH or "\x00" in value:
        return False
    return not any("\ud800" <= ch <= "\udfff" for ch in value)


def search_text(value: object) -> str:
    """A search term as the database may see it: controls and lone surrogates dropped, bounded, trimmed."""
    if not isinstance(value, str):
        return ""
    kept = "".join(ch for ch in value[: SEARCH_MAX_LENGTH * 2] if unicodedata.category(ch) not in {"Cc", "Cs"})
    return kept.strip()[:SEARCH_MAX_LENGTH]


def check_text(value: object, *, what: str, single_line: bool = False, max_length: int | None = None) -> str:
    """Free text to store (a commit summary, a tag message): a string without NUL or lone surrogates, which no
    database column or response can carry; a single line has no control characters at all."""
    if not isinstance(value, str):
        raise InvalidInput(gettext("%(what)s must be a string") % {"what": gettext(what)})
    if single_line:
        bad = _bad_character(value)
    else:
        bad = next((ch for ch in value if ch == "\x00" or "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:
        raise InvalidInput(gettext("%(what)s contains a control character or an unpaired surrogate (%(bad)r)")
            % {"what": gettext(what), "bad": bad})
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(gettext("%(what)s is longer than %(max_length)s characters")
            % {"what": gettext(what), "max_length": max_length})
    return value
