"""A repo as a git object source, read from the hub's tables (issue 21): refs, commits, trees and blobs.

The git smart-HTTP server (api.git.upload_pack) asks three things: which refs the repo has (`git_refs`), which
objects a fetch must send for its wants, haves and depth (`fetch_plan`), and their bodies, one at a time, in the
order it writes them (`plan_objects`). Nothing here holds file contents beyond one read chunk: a plan keeps the ids
to send (and, per id, where its body lives); commit bodies are `Commit.raw`, a tree's body is rebuilt from its
folder's CommitDir and CommitFile rows (registry.git_objects.tree_body, the same function that made its id), a
blob is a small file's inline content or an LFS file's pointer (registry.hashing.lfs_pointer).

History is the first-parent chain (`Commit.parent`): the hub's commits have one parent at most.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef

from registry.git_objects import tree_body
from registry.hashing import lfs_pointer
from registry.models import (
    PR_REF_PREFIX,
    Blob,
    Branch,
    Commit,
    CommitDir,
    CommitFile,
    ContentVerdict,
    ModelRepo,
    RepoBlob,
    Tag,
)

HEAD_BRANCH = "main"
PAGE = 1000  # rows per keyset read
BLOB_BATCH_BYTES = 8 * 1024 * 1024  # inline contents read at once, at most (one row may exceed it alone)


@dataclass(frozen=True)
class GitRef:
    name: str  # 'HEAD', 'refs/heads/main', 'refs/tags/v1', 'refs/pr/1'
    oid: str
    symref_target: str | None = None  # HEAD's branch


def git_ref_name(branch_name: str) -> str:
    """The git name of a Branch row: PR refs are stored as `refs/pr/N` already."""
    return branch_name if branch_name.startswith(PR_REF_PREFIX) else f"refs/heads/{branch_name}"


def git_refs(*, repo: ModelRepo) -> list[GitRef]:
    """HEAD (→ main's head, when there is a main) first, then every ref in byte order, as git lists them."""
    refs = [GitRef(git_ref_name(name), oid) for name, oid in
            Branch.objects.filter(repo=repo).values_list("name", "head__oid")]
    refs += [GitRef(f"refs/tags/{name}", oid) for name, oid in
             Tag.objects.filter(repo=repo).values_list("name", "commit__oid")]
    refs.sort(key=lambda ref: ref.name.encode())
    head = next((ref for ref in refs if ref.name == f"refs/heads/{HEAD_BRANCH}"), None)
    if head is None:
        return refs
    return [GitRef("HEAD", head.oid, head.name), *refs]


@dataclass(frozen=True)
class _Chain:
    pk: int
    oid: str
    parent_id: int | None


class History:
    """The repo's commits as (pk, id, parent pk), read once per request (ids only, one indexed query): walking a
    first-parent chain then costs no query per step."""

    def __init__(self, repo: ModelRepo) -> None:
        self.by_pk: dict[int, _Chain] = {}
        self.by_oid: dict[str, _Chain] = {}
        for pk, oid, parent_id in Commit.objects.filter(repo=repo).values_list("pk", "oid", "parent_id").iterator(
                PAGE):
            chain = _Chain(pk, oid, parent_id)
            self.by_pk[pk] = chain
            self.by_oid[oid] = chain

    def get(self, oids: Iterable[str]) -> dict[str, _Chain]:
        return {oid: self.by_oid[oid] for oid in oids if oid in self.by_oid}

    def parent(self, node: _Chain) -> _Chain | None:
        return self.by_pk.get(node.parent_id) if node.parent_id is not None else None

    def have_ancestors(self, wants: Iterable[str], haves: set[str]) -> bool:
        """Whether every want has one of `haves` in its history (git's "ok to give up" while negotiating): the
        client then has enough for the pack to be cut there."""
        if not haves:
            return False
        for want in self.get(wants).values():
            node: _Chain | None = want
            while node is not None and node.oid not in haves:
                node = self.parent(node)
            if node is None:
                return False
        return True


@dataclass
class FetchPlan:
    """What one fetch sends: commit pks, tree ids with the (commit pk, folder) to rebuild each from, blob ids with
    where each body lives (an inline CommitFile pk, or an LFS pointer's sha256 and size), and the shallow
    boundary to report."""

    commits: list[int] = field(default_factory=list)
    trees: dict[str, tuple[int, str]] = field(default_factory=dict)
    inline_blobs: dict[str, int] = field(default_factory=dict)
    pointer_blobs: dict[str, tuple[str, int]] = field(default_factory=dict)
    shallow: list[str] = field(default_factory=list)
    unshallow: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.commits) + len(self.trees) + len(self.inline_blobs) + len(self.pointer_blobs)


def commit_walk(*, history: History, wants: Iterable[str], haves: Iterable[str] = (), depth: int | None = None,
                client_shallow: Iterable[str] = ()) -> tuple[FetchPlan, set[int]]:
    """The commits a client holding `haves` (whole history below each) and shallow at `client_shallow` lacks for
    `wants`, down the first-parent chain to a have (or `depth` commits, reporting the last as shallow when it has
    a parent, and the client's shallow commits it walks past as unshallow): a plan without trees and blobs yet,
    and the pks of the haves it stopped at (the client holds their trees)."""
    known_haves = history.get(haves)
    shallow_in = set(history.get(client_shallow))
    plan = FetchPlan()
    taken: set[int] = set()
    boundary: set[int] = set()
    for want in history.get(wants).values():
        node: _Chain | None = want
        walked = 0
        while node is not None and node.pk not in taken:
            walked += 1
            taken.add(node.pk)
            if node.oid in known_haves:
                boundary.add(node.pk)  # the client holds its tree...
                if node.oid not in shallow_in:
                    break  # ...and all of its history
            else:
                plan.commits.append(node.pk)
            if depth is not None and walked >= depth:
                if node.parent_id is not None and node.oid not in shallow_in:
                    plan.shallow.append(node.oid)
                break
            if node.oid in shallow_in:
                if depth is None:
                    break  # not deepening: the client keeps its shallow boundary
                if node.parent_id is not None:
                    plan.unshallow.append(node.oid)
            node = history.parent(node)
    return plan, boundary


def fetch_plan(*, history: History, wants: Iterable[str], haves: Iterable[str] = (), depth: int | None = None,
               client_shallow: Iterable[str] = ()) -> FetchPlan:
    """`commit_walk`, then every tree and blob of those commits that the boundary haves don't hold (ids only)."""
    plan, boundary = commit_walk(history=history, wants=wants, haves=haves, depth=depth,
                                 client_shallow=client_shallow)
    held_trees: set[str] = set()
    held_blobs: set[str] = set()
    for pk in boundary:
        held_trees.update(CommitDir.objects.filter(commit_id=pk).values_list("oid", flat=True).iterator(PAGE))
        held_blobs.update(CommitFile.objects.filter(commit_id=pk).values_list("git_oid", flat=True).iterator(PAGE))
    for pk in plan.commits:
        for path, oid in CommitDir.objects.filter(commit_id=pk).values_list("path", "oid").iterator(PAGE):
            if oid not in held_trees and oid not in plan.trees:
                plan.trees[oid] = (pk, path)
        rows = CommitFile.objects.filter(commit_id=pk).values_list("pk", "git_oid", "blob__sha256", "size")
        for file_pk, oid, sha256, size in rows.iterator(PAGE):
            if oid in held_blobs or oid in plan.inline_blobs or oid in plan.pointer_blobs:
                continue
            if sha256 is None:
                plan.inline_blobs[oid] = file_pk
            else:
                plan.pointer_blobs[oid] = (sha256, size)
    return plan


def commit_bodies(pks: list[int]) -> Iterator[bytes]:
    """The commits' git bodies, in the order given, a page of rows at a time."""
    for start in range(0, len(pks), PAGE):
        page = pks[start:start + PAGE]
        raw = dict(Commit.objects.filter(pk__in=page).values_list("pk", "raw"))
        for pk in page:
            yield bytes(raw[pk])


def _folder_page(model: type[CommitDir] | type[CommitFile], commit_pk: int, folder: str,
                 fields: tuple[str, ...]) -> Iterator[tuple]:
    """A folder's direct children of one kind, by keyset pages on its (commit, parent, path) index."""
    after: str | None = None
    while True:
        qs = model.objects.filter(commit_id=commit_pk, parent=folder)
        if model is CommitDir:
            qs = qs.exclude(path="")  # the root's own row has parent ''
        if after is not None:
            qs = qs.filter(path__gt=after)
        rows = list(qs.order_by("path").values_list("path", *fields)[:PAGE])
        yield from rows
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def tree_object(commit_pk: int, folder: str) -> bytes:
    """The body of the git tree of `folder` ('' the root) in that commit, from its rows."""
    entries = [(path.rpartition("/")[2], True, oid)
               for path, oid in _folder_page(CommitDir, commit_pk, folder, ("oid",))]
    entries += [(path.rpartition("/")[2], False, oid)
                for path, oid in _folder_page(CommitFile, commit_pk, folder, ("git_oid",))]
    return tree_body(entries)


def inline_blob_bodies(pks: list[int]) -> Iterator[tuple[int, bytes]]:
    """Inline files' contents as (CommitFile pk, bytes), in batches of at most BLOB_BATCH_BYTES (by their sizes)."""
    batch: list[int] = []
    total = 0
    for start in range(0, len(pks), PAGE):
        page = pks[start:start + PAGE]
        sizes = dict(CommitFile.objects.filter(pk__in=page).values_list("pk", "size"))
        for pk in page:
            batch.append(pk)
            total += sizes.get(pk, 0)
            if total >= BLOB_BATCH_BYTES:
                yield from _inline_batch(batch)
                batch, total = [], 0
    if batch:
        yield from _inline_batch(batch)


def _inline_batch(pks: list[int]) -> Iterator[tuple[int, bytes]]:
    content = dict(CommitFile.objects.filter(pk__in=pks).values_list("pk", "content"))
    for pk in pks:
        yield pk, bytes(content[pk])


def pointer_body(sha256: str, size: int) -> bytes:
    return lfs_pointer(sha256, size)


def quarantined_blob(plan: FetchPlan) -> str | None:
    """The id of a small file in the plan whose content failed validation (quarantined: never served), or None."""
    oids = sorted(plan.inline_blobs)
    for start in range(0, len(oids), PAGE):
        found = ContentVerdict.objects.filter(git_oid__in=oids[start:start + PAGE], status="failed").values_list(
            "git_oid", flat=True).first()
        if found is not None:
            return found
    return None


# --- git-lfs downloads ----------------------------------------------------------------------------------------

LFS_BATCH_MAX = 1000  # objects per batch request (git-lfs sends 100)


@dataclass(frozen=True)
class LfsDownload:
    """One object of a git-lfs download batch: the blob to serve, or why not (`refusal`: 'missing' — not a file
    of this repo, whatever the store holds; 'size' — another size than the repo's; 'pending' — still being
    verified; 'rejected'; 'not_granted' — committed, but this repo's upload of the bytes never verified;
    'quarantined' — failed validation, `reason` says why)."""

    oid: str
    size: int
    blob: Blob | None = None
    refusal: str = ""
    reason: str = ""


def lfs_downloads(*, repo: ModelRepo, objects: list[tuple[str, int]]) -> list[LfsDownload]:
    """Which of these LFS objects (sha256, size) the repo may serve: a blob is this repo's to serve only when one of
    its commits holds a file of it (knowing a sha256 grants nothing), the repo holds the blob (RepoBlob) and its
    content isn't quarantined. Four queries whatever the count."""
    oids = sorted({oid for oid, _size in objects})
    in_repo = Exists(CommitFile.objects.filter(blob=OuterRef("pk"), commit__repo=repo))
    blobs = {blob.sha256: blob for blob in Blob.objects.filter(in_repo, sha256__in=oids)}
    granted = set(RepoBlob.objects.filter(repo=repo, blob__in=list(blobs.values())).values_list("blob_id", flat=True))
    verdicts = dict(ContentVerdict.objects.filter(sha256__in=list(blobs), status="failed").values_list(
        "sha256", "reason"))
    answers = []
    for oid, size in objects:
        blob = blobs.get(oid)
        if blob is None:
            answers.append(LfsDownload(oid, size, refusal="missing"))
        elif blob.size != size:
            answers.append(LfsDownload(oid, size, refusal="size"))
        elif blob.state == Blob.State.REJECTED:
            answers.append(LfsDownload(oid, size, refusal="rejected", reason=blob.rejected_reason))
        elif blob.pk not in granted:
            answers.append(LfsDownload(oid, size, refusal="not_granted"))
        elif blob.state != Blob.State.VERIFIED:
            answers.append(LfsDownload(oid, size, refusal="pending"))
        elif oid in verdicts:
            answers.append(LfsDownload(oid, size, refusal="quarantined", reason=verdicts[oid]))
        else:
            answers.append(LfsDownload(oid, size, blob=blob))
    return answers
