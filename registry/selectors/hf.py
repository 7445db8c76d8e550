"""Reads behind the Hugging Face-compatible API: file resolution in few queries, trees, listings.

The /resolve route is the hottest path of the hub (every HEAD of every file of every download),
so `file_lookup` finds the file and its commit in one query when the file exists.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, Sum

from registry.exceptions import EntryNotFound, RevisionNotFound
from registry.hashing import COMMIT_OID_RE, lfs_pointer
from registry.models import Blob, Branch, Commit, CommitFile, ContentVerdict, ModelRepo, Tag
from registry.names import lookup_ok
from registry.selectors.repos import commit_files

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
    raise RevisionNotFound(f"Invalid rev id: {candidates[0][0] if candidates else ''}")


def counts_as_download(*, commit_oid: str, repo: ModelRepo, path: str) -> bool:
    """The Hub's rule: one download per snapshot, counted on config.json, else on the first weight file."""
    if path == CONFIG_FILE:
        return True
    if "/" in path or not WEIGHT_FILE_RE.search(path):
        return False
    names = list(
        CommitFile.objects.filter(commit__oid=commit_oid, commit__repo=repo)
        .filter(Q(path=CONFIG_FILE) | Q(path__regex=r"^[^/]+" + WEIGHT_FILE_RE.pattern))
        .order_by("path").values_list("path", flat=True)[:50]
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


def directory_oid(files: Iterable[tuple[str, str]], folder: str) -> str:
    """A stable id for a folder: sha1 over the sorted (relative path, git oid) pairs below it.

    Two commits with the same folder content give the same id, as a git tree id would.
    """
    prefix = folder + "/"
    lines = sorted(f"{path[len(prefix):]} {oid}" for path, oid in files if path.startswith(prefix))
    return hashlib.sha1("\n".join(lines).encode(), usedforsecurity=False).hexdigest()


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def tree_list(*, commit: Commit, path: str = "", recursive: bool = False) -> list[TreeEntry]:
    """Entries of `path` (the root when empty) at `commit`, folders included, sorted by path.

    Raises EntryNotFound when `path` is neither a folder nor a file of the commit.
    """
    path = path.strip("/")
    files = list(commit_files(commit=commit, prefix=path))
    if path and not files:
        single = (CommitFile.objects.select_related("blob").defer("content")
                  .filter(commit=commit, path=path).first())
        if single is None:
            raise EntryNotFound(f"{path} does not exist in revision {commit.oid}")
        return [_file_entry(single)]
    pairs = [(f.path, f.git_oid) for f in files]
    depth = len(path.split("/")) if path else 0
    entries: dict[str, TreeEntry] = {}
    for f in files:
        folders = [a for a in _ancestors(f.path) if len(a.split("/")) > depth]
        if recursive:
            for folder in folders:
                if folder not in entries:
                    entries[folder] = TreeEntry("directory", folder, directory_oid(pairs, folder))
            entries[f.path] = _file_entry(f)
        elif folders:
            top = folders[0]
            if top not in entries:
                entries[top] = TreeEntry("directory", top, directory_oid(pairs, top))
        else:
            entries[f.path] = _file_entry(f)
    return [entries[key] for key in sorted(entries)]


def paths_info(*, commit: Commit, paths: Sequence[str]) -> list[TreeEntry]:
    """The entries (files or folders) for the requested paths; paths that don't exist are skipped."""
    wanted = [p.strip("/") for p in paths if lookup_ok(p) and p.strip("/")]  # NUL names nothing (nor can PG hold it)
    if not wanted:
        return []
    cond = Q(path__in=wanted)
    for p in wanted:
        cond |= Q(path__startswith=p + "/")
    files = list(commit_files(commit=commit).filter(cond))
    pairs = [(f.path, f.git_oid) for f in files]
    by_path = {f.path: f for f in files}
    result: list[TreeEntry] = []
    for p in dict.fromkeys(wanted):
        if p in by_path:
            result.append(_file_entry(by_path[p]))
        elif any(fp.startswith(p + "/") for fp in by_path):
            result.append(TreeEntry("directory", p, directory_oid(pairs, p)))
    return result


# --- expand: last commit and security status of tree entries -------------------------------------

LAST_COMMIT_DEPTH = 500  # commits walked back for `lastCommit`; a path unchanged that long gets the oldest one seen


@dataclass(frozen=True)
class EntryDetails:
    last_commit: Commit
    security: str | None = None  # files: "safe", "unsafe" or "unscanned"
    reason: str = ""  # why unsafe


def tree_expand(*, commit: Commit, entries: Sequence[TreeEntry]) -> dict[str, EntryDetails]:
    """What `expand=true` adds to tree and paths-info entries: the newest commit (at or before `commit`) that
    changed each one — for a file its content, for a folder anything below it — and each file's validation status.

    Three queries whatever the number of entries: the ancestry, the entries' rows in it, the verdicts.
    """
    if not entries:
        return {}
    chain = _ancestry(commit)
    cond = Q()
    for entry in entries:
        cond |= Q(path=entry.path) if entry.type == "file" else Q(path__startswith=entry.path + "/")
    snapshots: dict[int, list[tuple[str, str]]] = {c.pk: [] for c in chain}
    for commit_id, path, oid in (CommitFile.objects.filter(cond, commit_id__in=list(snapshots))
                                 .order_by().values_list("commit_id", "path", "git_oid")):
        snapshots[commit_id].append((path, oid))
    by_commit = {cid: dict(pairs) for cid, pairs in snapshots.items()}

    def state(entry: TreeEntry, at: Commit) -> str | None:
        if entry.type == "file":
            return by_commit[at.pk].get(entry.path)
        return directory_oid(snapshots[at.pk], entry.path)  # a folder absent there hashes as empty: a change too

    verdicts = _verdicts(entries)
    details: dict[str, EntryDetails] = {}
    for entry in entries:
        newest, last = state(entry, chain[0]), chain[0]
        for older in chain[1:]:
            if state(entry, older) != newest:
                break
            last = older
        security, reason = (None, "")
        if entry.type == "file":
            verdict = verdicts.get(entry.lfs_sha256 or entry.oid)
            security = ("unscanned" if verdict is None else "unsafe" if verdict[0] == "failed" else "safe")
            reason = verdict[1] if verdict and verdict[0] == "failed" else ""
        details[entry.path] = EntryDetails(last, security, reason)
    return details


def _ancestry(commit: Commit) -> list[Commit]:
    """`commit` and its parents, newest first, at most LAST_COMMIT_DEPTH long (one query)."""
    rows = {c.pk: c for c in Commit.objects.filter(repo_id=commit.repo_id, pk__lte=commit.pk)
            .only("id", "oid", "title", "created_at", "parent_id").order_by("-pk")[:LAST_COMMIT_DEPTH * 4]}
    chain = [commit]
    while len(chain) < LAST_COMMIT_DEPTH and chain[-1].parent_id in rows:
        chain.append(rows[chain[-1].parent_id])
    return chain


def _verdicts(entries: Sequence[TreeEntry]) -> dict[str, tuple[str, str]]:
    """sha256 (blob files) or git oid (inline files) → (verdict status, reason)."""
    shas = [e.lfs_sha256 for e in entries if e.type == "file" and e.lfs_sha256]
    oids = [e.oid for e in entries if e.type == "file" and not e.lfs_sha256]
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


def commit_page(*, repo: ModelRepo, head: Commit, offset: int, limit: int) -> tuple[list[Commit], bool]:
    """One page of first-parent history from `head`, newest first, and whether more follow."""
    from registry.services.commits import commit_history

    history = commit_history(repo=repo, head=head, limit=offset + limit + 1)
    page = history[offset: offset + limit]
    return page, len(history) > offset + limit


def basename(path: str) -> str:
    return posixpath.basename(path)
