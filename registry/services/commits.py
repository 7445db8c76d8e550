"""Commits: the only way a repo's files change. Atomic; a branch moves by compare-and-set."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from registry import hooks, permissions
from registry.cards import CardError, card_fields, card_summary, parse_card
from registry.exceptions import (
    BlobMissing,
    Conflict,
    EntryNotFound,
    InvalidInput,
    PermissionDenied,
    RepoNotFound,
    RevisionNotFound,
    StaleParent,
)
from registry.git_objects import commit_body, commit_header, commit_message, hub_signature, object_id
from registry.hashing import COMMIT_OID_RE, git_blob_sha1, lfs_pointer_sha1
from registry.lineage import card_lineage, is_relation_hint
from registry.models import PR_REF_PREFIX, ApiKey, Blob, Branch, Commit, CommitFile, ModelRepo, RepoBlob
from registry.names import check_path, check_text, folder_collisions
from registry.selectors.blobs import REUSE, UPLOADING, XET, BlobRef, blob_refs_for
from registry.services.audit import audit_record
from registry.services.blobs import repo_blob_grant
from registry.services.catalogue import catalogue_tracked
from registry.services.licenses import repo_license_follow_card
from registry.services.lineage import lineage_replace
from registry.services.trees import commit_dirs_create
from registry.tree_index import folders_of, parent_of

CAS_RETRIES = 20
CARD_PATH = "README.md"
SQLITE_LOCK_RETRIES = 200
FILE_BATCH = 1000  # CommitFile rows per INSERT: bounded statements, a handful of queries for 5,000 files
READ_CHUNK = 5000  # rows per fetch while reading the head's tree
IN_CHUNK = 500  # paths per IN (…): SQLite's variable limit


@dataclass(frozen=True)
class AddInline:
    path: str
    content: bytes


@dataclass(frozen=True)
class AddBlob:
    path: str
    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class Delete:
    path: str


@dataclass(frozen=True)
class DeleteFolder:
    path: str


@dataclass(frozen=True)
class Copy:
    src_path: str
    dest_path: str
    src_revision: str | None = None


Operation = AddInline | AddBlob | Delete | DeleteFolder | Copy


@dataclass
class _Entry:
    blob_id: int | None
    content: bytes | None  # inline bytes; None for blob files, and for stored inline files until needed
    size: int
    git_oid: str
    source: tuple[int, str] | None = None  # (commit id, path) of the stored row it was read from


def normalize_path(path: str) -> str:
    """A repo-relative POSIX path (registry.names.check_path): no traversal, absolute paths, controls or .git/."""
    return check_path(path)


def _load_tree(commit: Commit | None) -> dict[str, _Entry]:
    """The commit's tree without inline contents (memory for its paths only): rows the next commit keeps are
    copied inside the database, and the few contents a commit needs are read by `_fill_contents`."""
    if commit is None:
        return {}
    rows = (CommitFile.objects.filter(commit=commit).order_by()
            .values_list("path", "blob_id", "size", "git_oid").iterator(chunk_size=READ_CHUNK))
    return {path: _Entry(blob_id, None, size, git_oid, (commit.pk, path)) for path, blob_id, size, git_oid in rows}


def _kept(tree: dict[str, _Entry], head: Commit | None) -> set[str]:
    """Paths whose row the new commit takes unchanged from the head's (same path, same stored row)."""
    if head is None:
        return set()
    return {path for path, e in tree.items() if e.source == (head.pk, path)}


def _fill_contents(tree: dict[str, _Entry], kept: set[str]) -> None:
    """Read the inline contents of the stored files a commit copies to a new path (Copy), one query per source
    commit and IN_CHUNK paths."""
    wanted: dict[int, dict[str, list[str]]] = {}
    for path, e in tree.items():
        if e.blob_id is None and e.content is None and e.source is not None and path not in kept:
            wanted.setdefault(e.source[0], {}).setdefault(e.source[1], []).append(path)
    for commit_id, sources in wanted.items():
        names = sorted(sources)
        for start in range(0, len(names), IN_CHUNK):
            rows = CommitFile.objects.filter(commit_id=commit_id, path__in=names[start:start + IN_CHUNK])
            for source, content in rows.values_list("path", "content"):
                for path in sources[source]:
                    tree[path] = replace(tree[path], content=bytes(content))


def _copy_kept_rows(*, head: Commit, commit: Commit, left_out: list[str]) -> None:
    """INSERT … SELECT the head's rows into the new commit, but for `left_out` (deleted or replaced): the kept rows
    never travel through Python, so a commit to a 20,000-file repo costs little more than its changes."""
    if connection.vendor == "postgresql":
        leave, param = "NOT (path = ANY(%s))", left_out
    else:  # SQLite: the list as one JSON parameter (its variable limit is no limit on deletions)
        leave, param = "path NOT IN (SELECT value FROM json_each(%s))", json.dumps(left_out)
    sql = _COPY_ROWS.format(table=connection.ops.quote_name(CommitFile._meta.db_table), leave=leave)
    with connection.cursor() as cursor:
        cursor.execute(sql, [commit.pk, head.pk, param])


_COPY_ROWS = """
INSERT INTO {table} (commit_id, path, parent, blob_id, content, size, git_oid)
SELECT %s, path, parent, blob_id, content, size, git_oid FROM {table} WHERE commit_id = %s AND {leave}
"""


def _resolve_in_repo(repo: ModelRepo, revision: str) -> Commit:
    from registry.selectors.repos import revision_resolve

    return revision_resolve(repo=repo, revision=revision)


def _apply(repo: ModelRepo, tree: dict[str, _Entry], operations: Sequence[Operation],
           refs: dict[str, BlobRef]) -> dict[str, Any]:
    counts = {"added": 0, "deleted": 0, "copied": 0}
    for op in operations:
        if isinstance(op, AddInline):
            tree[op.path] = _Entry(None, op.content, len(op.content), git_blob_sha1(op.content))
            counts["added"] += 1
        elif isinstance(op, AddBlob):
            ref = refs[op.sha256]
            assert ref.blob is not None  # blob_refs_check(rows=True) made sure
            tree[op.path] = _Entry(ref.blob.pk, None, ref.size, lfs_pointer_sha1(ref.sha256, ref.size))
            counts["added"] += 1
        elif isinstance(op, Delete):
            if op.path not in tree:
                raise EntryNotFound(gettext("A file with this name doesn't exist: %(path)s") % {"path": op.path})
            del tree[op.path]
            counts["deleted"] += 1
        elif isinstance(op, DeleteFolder):
            prefix = op.path.rstrip("/") + "/"
            doomed = [p for p in tree if p.startswith(prefix)]
            if not doomed:
                raise EntryNotFound(gettext("A folder with this name doesn't exist: %(path)s") % {"path": op.path})
            for p in doomed:
                del tree[p]
            counts["deleted"] += len(doomed)
        elif isinstance(op, Copy):
            source_tree = (tree if op.src_revision is None
                           else _load_tree(_resolve_in_repo(repo, op.src_revision)))
            if op.src_path not in source_tree:
                raise EntryNotFound(gettext("A file with this name doesn't exist: %(src_path)s")
                    % {"src_path": op.src_path})
            tree[op.dest_path] = source_tree[op.src_path]
            counts["copied"] += 1
    added = [op.dest_path if isinstance(op, Copy) else op.path
             for op in operations if isinstance(op, AddInline | AddBlob | Copy)]
    collision = folder_collisions(tree, added)
    if collision is not None:
        raise Conflict(collision, code="PathConflict")
    return counts


def _check_operations(operations: Sequence[Operation]) -> list[Operation]:
    checked: list[Operation] = []
    for op in operations:
        if isinstance(op, AddInline | AddBlob | Delete):
            path = normalize_path(op.path)
            op = type(op)(**{**op.__dict__, "path": path})
        elif isinstance(op, DeleteFolder):
            op = DeleteFolder(normalize_path(op.path.rstrip("/")))
        elif isinstance(op, Copy):
            op = Copy(normalize_path(op.src_path), normalize_path(op.dest_path), op.src_revision)
        else:
            raise InvalidInput(gettext("unknown operation %(op)r") % {"op": op})
        if isinstance(op, AddBlob):
            sha = (op.sha256 or "").lower()
            if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
                raise InvalidInput(gettext("%(path)s: oid must be a sha256 hex digest") % {"path": op.path})
            op = AddBlob(op.path, sha, op.size)
        checked.append(op)
    return checked


def blob_refs_check(*, actor: Any, repo: ModelRepo, operations: Sequence[Operation],
                    rows: bool = True) -> dict[str, BlobRef]:
    """How each referenced sha256 may be committed into `repo` by `actor` (selectors.blobs.blob_refs_for), in one
    batch of queries however many files the commit holds. Authority comes first: a sha256 the repo may not reference
    is refused exactly as one never uploaded anywhere (same code, same message, and no size compared), so the answer
    says nothing about bytes stored for other repos. `rows`: also require the blob rows (commit_create; the HF
    commit checks before Xet-uploaded files get theirs).
    """
    wanted = {op.sha256: op for op in operations if isinstance(op, AddBlob)}
    refs = blob_refs_for(viewer=actor, repo=repo, shas=wanted)
    for sha, op in wanted.items():
        ref = refs.get(sha)
        if ref is None or (rows and ref.blob is None):
            raise BlobMissing(gettext("%(path)s: object %(sha)s was never uploaded to this repository; upload it "
                                      "before committing")
                % {"path": op.path, "sha": sha})
        if ref.via != UPLOADING and ref.blob is not None and ref.blob.state == Blob.State.REJECTED:
            raise BlobMissing(gettext("%(path)s: object %(sha)s was rejected: %(rejected_reason)s")
                % {"path": op.path, "sha": sha, "rejected_reason": ref.blob.rejected_reason})
        if op.size is not None and ref.size != op.size:
            raise InvalidInput(gettext("%(path)s: declared size %(size)s but the uploaded object has %(size2)s bytes")
                % {"path": op.path, "size": op.size, "size2": ref.size})
    return refs


def _git_commit(*, repo: ModelRepo, head: Commit | None, tree: str, title: str, message: str, author_name: str,
                now: Any, git_raw: bytes | None) -> tuple[str, bytes]:
    """The new commit's git object body and id (registry.git_objects): the hub's own signature and message, or
    the body pushed over git (`git_raw`), which must name the tree the hub computed and the head as its parent.

    Ids are content addressed: the same change by the same user on the same parent within one second (two PRs
    opened from one base, say) would be one object. The hub's own commits stay distinct, as two requests are two
    commits: the committer time moves on a second until the id is new to the repo."""
    parents = [head.oid] if head is not None else []
    if git_raw is None:
        for later in range(60):
            author = hub_signature(author_name, int(now.timestamp()))
            committer = hub_signature(author_name, int(now.timestamp()) + later)
            body = commit_body(tree=tree, parents=parents, author=author, committer=committer,
                               message=commit_message(title, message))
            oid = object_id("commit", body)
            if not Commit.objects.filter(repo=repo, oid=oid).exists():
                return oid, body
        raise Conflict(gettext("the branch is too busy right now; retry the commit"))
    else:
        try:
            pushed_tree, pushed_parents = commit_header(git_raw)
        except ValueError as exc:
            raise InvalidInput(gettext("the pushed object is not a git commit")) from exc
        if pushed_parents != parents:
            raise StaleParent(gettext("the pushed commit's parent is not the head of the branch; pull and retry"))
        if pushed_tree != tree:
            raise InvalidInput(gettext("the pushed commit's tree does not match its files (only plain files of "
                                       "mode 100644 and folders are kept)"))
        oid = object_id("commit", git_raw)
        if Commit.objects.filter(repo=repo, oid=oid).exists():
            raise Conflict(gettext("this commit already exists in the repository (%(oid)s)") % {"oid": oid})
        return oid, git_raw


def commit_create(
    *,
    actor: Any,
    repo: ModelRepo,
    operations: Sequence[Operation],
    title: str,
    message: str = "",
    branch: str = "main",
    parent_oid: str | None = None,
    create_branch: bool = False,
    api_key: ApiKey | None = None,
    ip: str | None = None,
    audit: bool = True,
    git_raw: bytes | None = None,
) -> Commit:
    """Apply operations on top of the branch head and move the branch, atomically.

    With `parent_oid`, the commit is refused (StaleParent) unless the branch head is still that
    commit. Without it, concurrent commits on one branch serialise: each is rebuilt on the head it
    finds, so none loses another's changes. `git_raw`: the body of a commit pushed over git (its id is kept).
    """
    pull_request = None
    if branch.startswith(PR_REF_PREFIX):
        # A pull request's ref: its author or a writer, while it takes commits (registry.services.pulls). This is
        # the one path where a reader commits, and only ever to the ref of their own PR.
        from registry.services.pulls import pr_push_check

        pull_request = pr_push_check(actor=actor, repo=repo, branch=branch, api_key=api_key)
        create_branch = False
    elif not permissions.can_write_repo(actor, repo, api_key):
        if not permissions.can_read_repo(actor, repo):
            raise RepoNotFound(gettext("Repository not found"))
        raise PermissionDenied(gettext("You don't have write access to this repository"))
    if repo.disabled:
        raise PermissionDenied(gettext("This repository has been disabled"))
    title = check_text(title or "", what="the commit summary").strip()
    check_text(message or "", what="the commit description")
    if not title:
        raise InvalidInput(gettext("a commit needs a summary"))
    if parent_oid is not None and not COMMIT_OID_RE.match(parent_oid):
        raise InvalidInput(gettext("parentCommit %(parent_oid)r is not a commit id") % {"parent_oid": parent_oid})
    operations = _check_operations(operations)
    refs = blob_refs_check(actor=actor, repo=repo, operations=operations)
    author_name = actor.get_username() if getattr(actor, "is_authenticated", False) else "system"

    lock_waits = 0
    in_outer_transaction = connection.in_atomic_block
    for _attempt in range(CAS_RETRIES + SQLITE_LOCK_RETRIES):
        try:
            with transaction.atomic():
                # No select_related here: PostgreSQL re-checks a FOR UPDATE join against the old joined
                # row after waiting for a concurrent commit, and would then return no branch at all.
                ref = Branch.objects.select_for_update().filter(repo=repo, name=branch).first()
                if ref is None and not create_branch:
                    raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {"revision": branch})
                head = ref.head if ref else None
                if parent_oid is not None and (head is None or head.oid != parent_oid):
                    raise StaleParent(
                        gettext(
                            "parent commit %(parent_oid)s is not the head of %(branch)s (%(value)s); pull and retry")
                            % {"parent_oid": parent_oid, "branch": branch, "value": head.oid if head else 'none'}
                    )
                tree = _load_tree(head)
                stored = set(tree)
                counts = _apply(repo, tree, operations, refs)
                kept = _kept(tree, head)
                _fill_contents(tree, kept)
                folders = folders_of((p, e.git_oid, e.size) for p, e in tree.items())
                root = next(f.oid for f in folders if f.path == "")
                now = timezone.now()
                oid, raw = _git_commit(repo=repo, head=head, tree=root, title=title, message=message,
                                       author_name=author_name, now=now, git_raw=git_raw)
                commit = Commit.objects.create(
                    oid=oid, raw=raw, repo=repo, parent=head,
                    author=actor if getattr(actor, "is_authenticated", False) else None,
                    author_name=author_name, title=title[:500], message=message, created_at=now,
                )
                if kept:
                    _copy_kept_rows(head=head, commit=commit, left_out=sorted(stored - kept))
                CommitFile.objects.bulk_create(
                    (CommitFile(commit=commit, path=path, parent=parent_of(path), blob_id=e.blob_id,
                                content=e.content, size=e.size, git_oid=e.git_oid)
                     for path, e in sorted(tree.items()) if path not in kept),
                    batch_size=FILE_BATCH,
                )
                commit_dirs_create(commit=commit, folders=folders)
                # Bytes brought in from the repo's Xet index or from a repo the committer may download: now the
                # repo's own (an upload still being hashed grants the repo only once it verifies).
                for via, source in ((XET, RepoBlob.Source.XET), (REUSE, RepoBlob.Source.REUSE)):
                    repo_blob_grant(repo=repo, actor=actor, source=source,
                                    blobs=[r.blob for r in refs.values() if r.via == via and r.blob is not None])
                if pull_request is not None:
                    from registry.services.pulls import pr_commit_recorded

                    pr_commit_recorded(discussion=pull_request, actor=actor, commit=commit)
                if ref is None:
                    Branch.objects.create(repo=repo, name=branch, head=commit, updated_at=now)
                else:
                    moved = Branch.objects.filter(pk=ref.pk, head_id=head.pk).update(
                        head=commit, updated_at=now)
                    if not moved:
                        # Someone moved the branch between our read and write (databases without row
                        # locks): roll back and rebuild on the new head.
                        transaction.set_rollback(True)
                        if parent_oid is not None:
                            raise StaleParent(gettext(
                                "parent commit %(parent_oid)s is no longer the head of %(branch)s")
                                % {"parent_oid": parent_oid, "branch": branch})
                        continue
                repo_fields = {"updated_at": now}
                lineage_changed = False
                if any(getattr(op, "path", None) == CARD_PATH or getattr(op, "dest_path", None) == CARD_PATH
                       for op in operations):
                    # A card whose metadata the hub can't store is refused (as the Hub does), on every branch;
                    # on main its fields feed the listings, and a deleted card clears them.
                    card = _card_cache(tree[CARD_PATH], paths=tree) if CARD_PATH in tree else _no_card()
                    if branch == "main" and card:
                        repo_fields.update(card)
                        lineage_changed = True
                if branch == "main" and not lineage_changed and _hints(stored) != _hints(tree):
                    # An adapter or quantised weights came or went: the inferred relation (and its tags) may change.
                    current = ModelRepo.objects.filter(pk=repo.pk).values_list("card_data", flat=True).first()
                    repo_fields["tags"] = card_fields(current or {}, paths=tree)["tags"]
                    repo_fields["card_data"] = current or {}
                    lineage_changed = True
                if lineage_changed:
                    lineage_replace(repo_id=repo.pk, lineage=card_lineage(repo_fields["card_data"], tree))
                # Card fields are facets (task, license, languages, tags): their counts follow in this transaction.
                with catalogue_tracked(repo_id=repo.pk) if len(repo_fields) > 1 else nullcontext():
                    ModelRepo.objects.filter(pk=repo.pk).update(**repo_fields)
                    for key, value in repo_fields.items():
                        setattr(repo, key, value)
                    if "card_license" in repo_fields:
                        # A known `license:` on main sets the repo's license (never over an owner's choice).
                        repo_license_follow_card(repo=repo, card_license=repo_fields["card_license"], actor=actor,
                                                 ip=ip)
                if audit:
                    audit_record(
                        actor=actor, action="commit.create", target=repo, ip=ip,
                        metadata={"commit": commit.oid, "branch": branch, "title": title[:200], **counts},
                    )
                _on_new_commit(commit)
                hooks.ref_moved(repo_id=repo.pk, ref=ref_name(branch), old=head.oid if head else None,
                                new=commit.oid)
                return commit
        except OperationalError as exc:
            # SQLite (embedded mode, tests) has no row locks: a writer that loses the race for the
            # database lock fails at once instead of waiting. Back off and rebuild on the new head.
            # Inside a caller's transaction our locks outlive the rollback, so waiting could deadlock.
            retryable = connection.vendor == "sqlite" and "locked" in str(exc) and not in_outer_transaction
            if not retryable or lock_waits >= SQLITE_LOCK_RETRIES:
                raise
            lock_waits += 1
            time.sleep(random.uniform(0.005, min(0.25, 0.01 * 2 ** min(lock_waits, 5))))
    raise Conflict(gettext("the branch is too busy right now; retry the commit"))


def _no_card() -> dict[str, Any]:
    return {**card_fields({}), "description": ""}


def _hints(paths: Iterable[str]) -> set[str]:
    """The paths a base-model relation is inferred from (registry.lineage)."""
    return {p for p in paths if is_relation_hint(p)}


def _card_cache(entry: _Entry, *, paths: Iterable[str] = ()) -> dict[str, Any]:
    """The repo fields a card gives; InvalidInput when its metadata can't be stored (a 400 with the reason).
    `paths`: the branch's files after the commit (a missing base_model_relation is inferred from them)."""
    if entry.content is None:
        return {}
    try:
        card = parse_card(entry.content.decode("utf-8", errors="replace"))
    except CardError as exc:
        raise InvalidInput(gettext("Invalid metadata in %(CARD_PATH)s: %(exc)s")
            % {"CARD_PATH": CARD_PATH, "exc": exc}, code="InvalidCard") from exc
    fields = card_fields(card.data, paths=paths)
    fields["description"] = card_summary(card.body)
    return fields


def ref_name(branch: str) -> str:
    """The full ref a webhook reports: refs/heads/<branch>; PR refs (refs/pr/N) are full already."""
    return branch if branch.startswith("refs/") else f"refs/heads/{branch}"


def _on_new_commit(commit: Commit) -> None:
    """Queue follow-up work once the transaction commits (validation lands here with its issue)."""
    hooks.commit_created(commit)


def commit_history(*, repo: ModelRepo, head: Commit, limit: int | None = None) -> list[Commit]:
    """Walk first parents from head (newest first)."""
    from registry.selectors.history import commit_chain

    return commit_chain(start=head, limit=limit)
