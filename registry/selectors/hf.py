"""Reads behind the Hugging Face-compatible API: file resolution in few queries, trees, listings.

The /resolve route is the hottest path of the hub (every HEAD of every file of every download),
so `file_lookup` finds the file and its commit in one query when the file exists.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, Sum
from django.utils.translation import gettext

from registry.exceptions import EntryNotFound, RevisionNotFound
from registry.hashing import COMMIT_OID_RE, lfs_pointer
from registry.models import Blob, Branch, Commit, CommitDir, CommitFile, ContentVerdict, ModelRepo, Tag
from registry.names import lookup_ok
from registry.selectors import trees
from registry.selectors.history import commit_chain
from registry.selectors.repos import commit_files
from registry.tree_index import PathOrder

# Files whose GET counts as one download of the repo when it has no config.json (GGUF-only repos…).
WEIGHT_FILE_RE = re.compile(r"\.(safetensors|bin|gguf|pt|pth|ckpt|h5|onnx|msgpack|tflite|ot|npz)$")
CONFIG_FILE = "config.json"


def pointer_size(sha256: str, size: int) -> int:
    return len(lfs_pointer(sha256, size))


# --- /resolve -----------------------------------------------------------------------------------


def _commit_filter(repo: ModelRepo, revision: str, prefix: str = "commit") -> Q:
    """Rows whose commit is what `revision` names in `repo`: a branch head, a tag, or a full commit id.

    Branch and tag names are unique across both kinds and can't look like commit ids, so at most
    one of the three alternatives matches.
    """
    cond = Q(**{f"{prefix}_id__in": Branch.objects.filter(repo=repo, name=revision).values("head_id")})
    cond |= Q(**{f"{prefix}_id__in": Tag.objects.filter(repo=repo, name=revision).values("commit_id")})
    if COMMIT_OID_RE.match(revision):
        cond |= Q(**{f"{prefix}__oid": revision, f"{prefix}__repo": repo})
    return cond


def file_lookup(
    *, repo: ModelRepo, candidates: Sequence[tuple[str, str]], annotations: dict[str, Any] | None = None
) -> tuple[str, CommitFile | None, str]:
    """Find `path` at `revision` for the first (revision, path) split that names an existing file.

    `candidates` are the ways to split `<rev>/<path>` (a revision may contain '/'), best first.
    Returns (commit oid, file or None, path). One query when the file exists; one more to tell a
    missing file (EntryNotFound, with the commit id) from an unknown revision (RevisionNotFound).
    `annotations` ride along in the same query (validation adds each file's quarantine reason).
    """
    cond = Q()
    for revision, path in candidates:
        if path:
            cond |= Q(path=path) & _commit_filter(repo, revision)
    if cond:
        rows = CommitFile.objects.select_related("commit", "blob").filter(cond)
        if annotations:
            rows = rows.annotate(**annotations)
        found = list(rows[: len(candidates)])
        if found:
            rank = {path: i for i, (_rev, path) in enumerate(candidates)}
            entry = min(found, key=lambda f: rank.get(f.path, len(rank)))
            return entry.commit.oid, entry, entry.path
    revision, path, oid = _first_revision(repo, candidates)
    return oid, None, path


def _first_revision(repo: ModelRepo, candidates: Sequence[tuple[str, str]]) -> tuple[str, str, str]:
    """(revision, path, commit oid) for the first candidate whose revision exists, in one query."""
    revisions = [rev for rev, _path in candidates]
    oids = [r for r in revisions if COMMIT_OID_RE.match(r)]
    branches = (Branch.objects.filter(repo=repo, name__in=revisions).order_by()
                .values_list("name", "head__oid"))
    tags = Tag.objects.filter(repo=repo, name__in=revisions).order_by().values_list("name", "commit__oid")
    commits = Commit.objects.filter(repo=repo, oid__in=oids).order_by().values_list("oid", "oid")
    rows = branches.union(tags, commits)
    known = dict(rows)
    for revision, path in candidates:
        if revision in known:
            return revision, path, known[revision]
    raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {
        "revision": candidates[0][0] if candidates else ""})


def counts_as_download(*, commit_oid: str, repo: ModelRepo, path: str) -> bool:
    """The Hub's rule: one download per snapshot, counted on config.json, else on the first weight file."""
    if path == CONFIG_FILE:
        return True
    if "/" in path or not WEIGHT_FILE_RE.search(path):
        return False
    names = list(  # the root folder's files, by index (commitfile_folder_page), however large the tree
        CommitFile.objects.filter(commit__oid=commit_oid, commit__repo=repo, parent="")
        .filter(Q(path=CONFIG_FILE) | Q(path__regex=WEIGHT_FILE_RE.pattern))
        .alias(key=PathOrder("path")).order_by("key").values_list("path", flat=True)[:50]
    )
    if CONFIG_FILE in names:
        return False
    weights = [n for n in names if n != CONFIG_FILE]
    return bool(weights) and weights[0] == path


# --- trees --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeEntry:
    type: str  # "file" | "directory"
    path: str
    oid: str
    size: int = 0
    lfs_sha256: str | None = None
    xet_hash: str | None = None

    def as_hf(self) -> dict[str, Any]:
        if self.type == "directory":
            return {"type": "directory", "path": self.path, "oid": self.oid, "size": 0}
        data: dict[str, Any] = {"type": "file", "path": self.path, "oid": self.oid, "size": self.size}
        if self.lfs_sha256:
            data["lfs"] = {"oid": self.lfs_sha256, "size": self.size,
                           "pointerSize": pointer_size(self.lfs_sha256, self.size)}
        if self.xet_hash:
            data["xetHash"] = self.xet_hash
        return data


def _file_entry(f: CommitFile) -> TreeEntry:
    if f.blob_id is None:
        return TreeEntry("file", f.path, f.git_oid, f.size)
    # xetHash only once the file is downloadable (verified); retention clears xet_hash when the xorbs go.
    xet_hash = f.blob.xet_hash if f.blob.xet_hash and f.blob.state == Blob.State.VERIFIED else None
    return TreeEntry("file", f.path, f.git_oid, f.size, f.blob.sha256, xet_hash)


def _entry(row: CommitDir | CommitFile) -> TreeEntry:
    if isinstance(row, CommitDir):
        return TreeEntry("directory", row.path, row.oid)
    return _file_entry(row)


def tree_page(*, commit: Commit, path: str = "", recursive: bool = False, after: str = "",
              limit: int) -> tuple[list[TreeEntry], bool]:
    """One page of the entries of `path` (the root when empty) at `commit` — its children, or with `recursive`
    everything below it — folders included, in byte order of their paths after the path `after` (a keyset cursor:
    the previous page's last path); and whether more follow. Three queries whatever the tree's size.

    A file's path lists that file alone. Raises EntryNotFound when `path` is neither a folder nor a file.
    """
    path = path.strip("/")
    if path and (not lookup_ok(path) or trees.folder_get(commit=commit, path=path) is None):
        single = (CommitFile.objects.select_related("blob").defer("content")
                  .filter(commit=commit, path=path).first()) if lookup_ok(path) else None  # no NUL (PG)
        if single is None:
            raise EntryNotFound(gettext("%(path)s does not exist in revision %(oid)s")
                % {"path": path, "oid": commit.oid})
        return ([_file_entry(single)] if not after else []), False
    rows, more = trees.tree_rows(commit=commit, folder=path, recursive=recursive, after=after, limit=limit)
    return [_entry(row) for row in rows], more


def paths_info(*, commit: Commit, paths: Sequence[str]) -> list[TreeEntry]:
    """The entries (files or folders) for the requested paths, in the order asked; paths that don't exist are
    skipped. Two queries, by index, however many paths."""
    wanted = list(dict.fromkeys(p.strip("/") for p in paths if lookup_ok(p) and p.strip("/")))  # no NUL (PG)
    if not wanted:
        return []
    files = {f.path: f for f in commit_files(commit=commit).filter(path__in=wanted)}
    folders = trees.folders_get(commit=commit, paths=[p for p in wanted if p not in files])
    return [_file_entry(files[p]) if p in files else _entry(folders[p])
            for p in wanted if p in files or p in folders]


# --- expand: last commit and security status of tree entries -------------------------------------

LAST_COMMIT_DEPTH = 500  # commits walked back for `lastCommit`; a path unchanged that long gets the oldest one seen


@dataclass(frozen=True)
class EntryDetails:
    last_commit: Commit
    security: str | None = None  # files: "safe", "unsafe" or "unscanned"
    reason: str = ""  # why unsafe


def tree_expand(*, commit: Commit, entries: Sequence[TreeEntry]) -> dict[str, EntryDetails]:
    """What `expand=true` adds to tree and paths-info entries: the newest commit (at or before `commit`) that
    changed each one — for a file its content, for a folder anything below it (its id) — and each file's
    validation status.

    Four queries whatever the number of entries: the ancestry, the files' and the folders' rows in it (a folder's
    id, computed once per commit), the verdicts.
    """
    if not entries:
        return {}
    chain = commit_chain(start=commit, limit=LAST_COMMIT_DEPTH)
    ids = [c.pk for c in chain]
    states: dict[int, dict[str, str]] = {pk: {} for pk in ids}
    files = [e.path for e in entries if e.type == "file"]
    folders = [e.path for e in entries if e.type != "file"]
    if files:
        for commit_id, path, oid in (CommitFile.objects.filter(commit_id__in=ids, path__in=files)
                                     .order_by().values_list("commit_id", "path", "git_oid")):
            states[commit_id][path] = oid
    if folders:
        for commit_id, path, oid in trees.folder_ids_in(commit_ids=ids, paths=folders):
            states[commit_id][path] = oid
    verdicts = _verdicts(entries)
    details: dict[str, EntryDetails] = {}
    for entry in entries:
        newest, last = states[chain[0].pk].get(entry.path), chain[0]
        for older in chain[1:]:
            if states[older.pk].get(entry.path) != newest:  # absent there (None): a change too
                break
            last = older
        security, reason = (None, "")
        if entry.type == "file":
            verdict = verdicts.get(entry.lfs_sha256 or entry.oid)
            security = ("unscanned" if verdict is None else "unsafe" if verdict[0] == "failed" else "safe")
            reason = verdict[1] if verdict and verdict[0] == "failed" else ""
        details[entry.path] = EntryDetails(last, security, reason)
    return details


def _verdicts(entries: Sequence[TreeEntry]) -> dict[str, tuple[str, str]]:
    """sha256 (blob files) or git oid (inline files) → (verdict status, reason)."""
    shas = {e.lfs_sha256 for e in entries if e.type == "file" and e.lfs_sha256}
    oids = {e.oid for e in entries if e.type == "file" and not e.lfs_sha256}
    if not shas and not oids:
        return {}
    found: dict[str, tuple[str, str]] = {}
    for sha, oid, status, reason in (ContentVerdict.objects.filter(Q(sha256__in=shas) | Q(git_oid__in=oids))
                                     .values_list("sha256", "git_oid", "status", "reason")):
        found[sha if sha in shas else oid] = (status, reason)
    return found


# --- repo info and listings ------------------------------------------------------------------


def repo_heads(*, repos: Sequence[ModelRepo], branch: str = "main") -> dict[int, Commit]:
    """repo id → head commit of `branch`, for a page of repos, in one query."""
    rows = Branch.objects.filter(repo__in=repos, name=branch).select_related("head")
    return {b.repo_id: b.head for b in rows}


def files_by_commit(*, commits: Sequence[Commit]) -> dict[int, list[CommitFile]]:
    """commit id → its files (blobs joined, inline content left out), for a page of repos, in one query."""
    result: dict[int, list[CommitFile]] = {c.pk: [] for c in commits}
    rows = CommitFile.objects.filter(commit__in=commits).select_related("blob").defer("content")
    for f in rows.order_by("path"):
        result[f.commit_id].append(f)
    return result


def repo_used_storage(*, repo: ModelRepo) -> int:
    """Bytes the repo holds in the blob store (every blob of its history, once) plus its inline files."""
    blob_ids = CommitFile.objects.filter(commit__repo=repo, blob__isnull=False).values("blob_id")
    blobs = Blob.objects.filter(pk__in=blob_ids).aggregate(total=Sum("size"))["total"] or 0
    heads = Branch.objects.filter(repo=repo).values("head_id")
    inline = (CommitFile.objects.filter(commit_id__in=heads, blob__isnull=True)
              .aggregate(total=Sum("size"))["total"] or 0)
    return int(blobs) + int(inline)




def basename(path: str) -> str:
    return posixpath.basename(path)
