"""`git push` (issue 21): the ref updates of a received pack, turned into the hub's own commits.

api.git.receive_pack reads the request (commands and pack); this module decides what each ref update means. A
branch update must be a linear chain of new commits on top of the branch head (merge commits and force pushes are
refused); each commit, oldest first, becomes the operations that turn its parent's tree into its own (a subtree
whose id is the parent's at that path is unchanged and never read), and goes through
registry.services.commits.commit_create with the pushed body (`git_raw`): names, paths, sizes, LFS objects, protected
refs, validation and quarantine run exactly as for an HF API commit, and the hub keeps the pushed commit id.

Files: plain blobs become inline files (up to settings.INLINE_FILE_MAX_SIZE), LFS pointers the blob they point at
(which git-lfs uploads through the LFS batch endpoint before the push); executables, symlinks and submodules are
refused, the hub keeping plain files only.

Each ref update is atomic: a chain refused midway writes nothing, the branch staying where it was. Objects the pack
does not hold (a thin pack's bases, an unchanged subtree, a file copied from elsewhere in the repo) are read from the
repo's own rows: CommitDir (trees) and CommitFile (blobs and LFS pointers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext, gettext_noop

from registry import permissions
from registry.exceptions import BlobMissing, Conflict, HubError, InvalidInput, RevisionNotFound
from registry.git_objects import EMPTY_TREE, commit_header
from registry.hashing import lfs_pointer
from registry.models import PR_REF_PREFIX, ApiKey, Branch, Commit, CommitDir, CommitFile, ModelRepo, Tag
from registry.names import check_ref_name
from registry.selectors.git import tree_object
from registry.services.commits import AddBlob, AddInline, Delete, DeleteFolder, Operation, commit_create
from registry.services.refs import (
    branch_create,
    branch_delete,
    branch_fast_forward,
    tag_create,
    tag_delete,
)

ZERO_OID = "0" * 40
HEADS = "refs/heads/"
TAGS = "refs/tags/"
FILE_MODE = 0o100644
TREE_MODE = 0o040000
OTHER_MODES = {  # what git calls a tree entry the hub can't keep
    0o100755: gettext_noop("%(path)s is an executable file (mode 100755): the hub keeps only plain files (mode "
                           "100644) and folders; run `git update-index --chmod=-x %(path)s`"),
    0o120000: gettext_noop("%(path)s is a symbolic link: the hub keeps only plain files (mode 100644) and folders"),
    0o160000: gettext_noop("%(path)s is a submodule: the hub keeps only plain files (mode 100644) and folders"),
}
LFS_PREFIX = b"version https://git-lfs.github.com/spec/"
LFS_POINTER_MAX = 1024  # git-lfs never reads a larger file as a pointer
LFS_POINTER_RE = re.compile(rb"\Aversion https://git-lfs\.github\.com/spec/v1\noid sha256:([0-9a-f]{64})\n"
                            rb"size (0|[1-9][0-9]{0,18})\n\Z")


@dataclass(frozen=True)
class RefUpdate:
    """One command of a push: `ref` from `old` to `new` (zeros: create / delete)."""

    old: str
    new: str
    ref: str


@dataclass
class RefResult:
    ref: str
    error: str | None = None  # None: "ok <ref>"; otherwise the reason git prints beside "ng <ref>"


# (kind, body) of an object in the pushed pack, or None when the pack does not hold it
PackReader = Callable[[str], "tuple[str, bytes] | None"]


@dataclass
class _Objects:
    """The objects a push can see: the pack's first, then the repo's rows (for what the client left out)."""

    repo: ModelRepo
    pack: PackReader
    base: Commit | None = None  # the commit the chain builds on: its rows are searched first
    _trees: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)

    def tree(self, oid: str, path: str) -> list[tuple[str, int, str]]:
        """The (name, mode, id) entries of tree `oid` (found at `path`, for messages)."""
        if oid == EMPTY_TREE:
            return []
        if oid in self._trees:
            return self._trees[oid]
        found = self.pack(oid)
        if found is not None:
            kind, body = found
            if kind != "tree":
                raise InvalidInput(gettext("%(path)s: object %(oid)s is not a tree")
                                   % {"path": path or "/", "oid": oid})
            entries = _parse_tree(body, path)
        else:
            entries = self._repo_tree(oid, path)
        self._trees[oid] = entries
        return entries

    def _repo_tree(self, oid: str, path: str) -> list[tuple[str, int, str]]:
        row = _nearest(CommitDir.objects.filter(oid=oid).values_list("commit_id", "path"), self.repo, self.base)
        if row is None:
            raise InvalidInput(gettext("%(path)s: tree %(oid)s is neither in the pack nor in the repository")
                               % {"path": path or "/", "oid": oid})
        commit_id, folder = row
        return _parse_tree(tree_object(commit_id, folder), path)  # the tree a clone gets (registry.selectors.git)

    def file_operation(self, path: str, oid: str) -> Operation:
        """The operation that puts blob `oid` at `path`: an inline file, or the LFS object its pointer names."""
        found = self.pack(oid)
        if found is None:
            return self._repo_file(path, oid)
        kind, content = found
        if kind != "blob":
            raise InvalidInput(gettext("%(path)s: object %(oid)s is not a blob") % {"path": path, "oid": oid})
        if content.startswith(LFS_PREFIX) and len(content) <= LFS_POINTER_MAX:
            match = LFS_POINTER_RE.match(content)
            if match is None or lfs_pointer(match[1].decode(), int(match[2])) != content:
                raise InvalidInput(gettext("%(path)s: this LFS pointer is not one the hub accepts (only "
                                           "'version', 'oid sha256:' and 'size', as git-lfs writes them)")
                                   % {"path": path})
            return AddBlob(path, match[1].decode(), int(match[2]))
        if len(content) > settings.INLINE_FILE_MAX_SIZE:
            raise InvalidInput(gettext(
                "%(path)s: files over %(size)s bytes must be pushed with git-lfs: run `git lfs install`, "
                "`git lfs track \"%(pattern)s\"`, commit the file again and push") % {
                "path": path, "size": settings.INLINE_FILE_MAX_SIZE, "pattern": _lfs_pattern(path)})
        return AddInline(path, content)

    def _repo_file(self, path: str, oid: str) -> Operation:
        row = _nearest(CommitFile.objects.filter(git_oid=oid).select_related("blob"), self.repo, self.base)
        if row is None:
            raise InvalidInput(gettext("%(path)s: object %(oid)s is neither in the pack nor in the repository")
                               % {"path": path, "oid": oid})
        if row.blob is not None:
            return AddBlob(path, row.blob.sha256, row.size)
        return AddInline(path, bytes(row.content))


def _nearest(query: QuerySet, repo: ModelRepo, base: Commit | None) -> Any:
    """The first row of `query` (CommitFile or CommitDir rows) in the commit a push builds on, else in the repo's
    branch heads (where a client's thin-pack bases and unchanged objects come from), else anywhere in the repo's
    history: the common cases read one commit's rows by index, never another repo's."""
    if base is not None:
        row = query.filter(commit=base).first()
        if row is not None:
            return row
    row = query.filter(commit_id__in=Branch.objects.filter(repo=repo).values("head_id")).first()
    if row is not None:
        return row
    return query.filter(commit__repo=repo).first()


def repo_object(repo: ModelRepo, oid: str) -> tuple[int, bytes] | None:
    """A blob (3) or tree (2) of the repo as (git type number, body), for a thin pack's delta bases; None when the
    repo holds no such object."""
    row = _nearest(CommitFile.objects.filter(git_oid=oid).select_related("blob"), repo, None)
    if row is not None:
        return 3, (lfs_pointer(row.blob.sha256, row.size) if row.blob is not None else bytes(row.content))
    if oid == EMPTY_TREE:
        return 2, b""
    row = _nearest(CommitDir.objects.filter(oid=oid).values_list("commit_id", "path"), repo, None)
    if row is not None:
        return 2, tree_object(*row)
    return None


def _lfs_pattern(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return f"*.{name.rsplit('.', 1)[-1]}" if "." in name.strip(".") else name


def _parse_tree(body: bytes, path: str) -> list[tuple[str, int, str]]:
    entries = []
    at = 0
    try:
        while at < len(body):
            space = body.index(b" ", at)
            nul = body.index(b"\0", space)
            mode = int(body[at:space], 8)
            name = body[space + 1:nul].decode("utf-8")
            raw = body[nul + 1:nul + 21]
            if len(raw) != 20 or not name or "/" in name:
                raise ValueError
            entries.append((name, mode, raw.hex()))
            at = nul + 21
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(gettext("%(path)s: a tree the hub can't read (malformed, or a file name that isn't UTF-8)")
                           % {"path": path or "/"}) from exc
    return entries


def _tree_operations(objects: _Objects, old: str | None, new: str) -> list[Operation]:
    """The operations turning tree `old` (None: nothing) into `new`: deletions first, then files added or changed."""
    deletions: list[Operation] = []
    additions: list[Operation] = []

    def walk(prefix: str, old_oid: str | None, new_oid: str) -> None:
        if old_oid == new_oid:
            return  # unchanged subtree: never read
        before = {name: (mode, oid) for name, mode, oid in objects.tree(old_oid, prefix)} if old_oid else {}
        after = objects.tree(new_oid, prefix)
        for name, mode, oid in after:
            path = prefix + name
            was = before.pop(name, None)
            if mode == TREE_MODE:
                if was is not None and was[0] != TREE_MODE:
                    deletions.append(Delete(path))
                    was = None
                walk(path + "/", was[1] if was else None, oid)
            elif mode == FILE_MODE:
                if was is not None and was[0] == TREE_MODE:
                    deletions.append(DeleteFolder(path))
                elif was is not None and was[1] == oid:
                    continue
                additions.append(objects.file_operation(path, oid))
            else:
                if mode in OTHER_MODES:
                    raise InvalidInput(gettext(OTHER_MODES[mode]) % {"path": path})
                raise InvalidInput(gettext("%(path)s has mode %(mode)s: the hub keeps only plain files (mode 100644) "
                                           "and folders") % {"path": path, "mode": f"{mode:o}"})
        for name, (mode, _oid) in sorted(before.items()):
            deletions.append(DeleteFolder(prefix + name) if mode == TREE_MODE else Delete(prefix + name))

    walk("", old, new)
    return deletions + additions


@dataclass(frozen=True)
class _Pushed:
    oid: str
    body: bytes
    tree: str
    parent: str | None


def _commit_tree(commit: Commit) -> str:
    if commit.raw:
        return commit_header(bytes(commit.raw))[0]
    root = CommitDir.objects.filter(commit=commit, path="").values_list("oid", flat=True).first()
    return root or EMPTY_TREE


def _chain(repo: ModelRepo, pack: PackReader, *, new: str, stop: str | None) -> tuple[list[_Pushed], str | None]:
    """The pushed commits from `new` back to `stop` (the branch head; None: a new branch), oldest first, and the
    commit they build on: `stop`, another commit already in the repo (refused for an existing branch, the start of a
    new one), an object neither holds, or None below a root commit."""
    chain: list[_Pushed] = []
    oid: str | None = new
    while oid is not None and oid != stop:
        found = pack(oid)
        if found is None or Commit.objects.filter(repo=repo, oid=oid).exists():
            return list(reversed(chain)), oid
        kind, body = found
        if kind != "commit":
            raise InvalidInput(gettext("%(oid)s is a %(kind)s, not a commit") % {"oid": oid, "kind": kind})
        try:
            tree, parents = commit_header(body)
        except ValueError as exc:
            raise InvalidInput(gettext("%(oid)s is not a valid commit") % {"oid": oid}) from exc
        if len(parents) > 1:
            raise InvalidInput(gettext("%(oid)s is a merge commit: the hub keeps a linear history; rebase your "
                                       "branch (`git pull --rebase`) and push again") % {"oid": oid[:12]})
        chain.append(_Pushed(oid, body, tree, parents[0] if parents else None))
        oid = parents[0] if parents else None
    return list(reversed(chain)), oid


def _title_message(pushed: _Pushed) -> tuple[str, str]:
    text = pushed.body.split(b"\n\n", 1)[1] if b"\n\n" in pushed.body else b""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(gettext("commit %(oid)s: the message must be UTF-8") % {"oid": pushed.oid[:12]}) from exc
    title, _, message = decoded.strip().partition("\n")
    if not title.strip():
        raise InvalidInput(gettext("commit %(oid)s has an empty message; a commit needs a summary")
                           % {"oid": pushed.oid[:12]})
    return title.strip(), message.strip()


@dataclass
class _Push:
    actor: Any
    repo: ModelRepo
    pack: PackReader
    api_key: ApiKey | None
    ip: str | None

    def commits(self, *, branch: str, head: Commit | None, chain: Sequence[_Pushed]) -> Commit | None:
        """Land `chain` on `branch` (at `head`; None: a new branch from a root commit), oldest first."""
        objects = _Objects(self.repo, self.pack, base=head)
        parent_tree = _commit_tree(head) if head is not None else None
        landed = head
        for pushed in chain:
            operations = _tree_operations(objects, parent_tree, pushed.tree)
            title, message = _title_message(pushed)
            try:
                landed = commit_create(
                    actor=self.actor, repo=self.repo, operations=operations, title=title, message=message,
                    branch=branch, parent_oid=landed.oid if landed is not None else None,
                    create_branch=landed is None, api_key=self.api_key, ip=self.ip, git_raw=pushed.body)
            except BlobMissing as exc:
                raise BlobMissing(gettext("%(reason)s (is git-lfs installed? run `git lfs install`, then "
                                          "`git lfs push --all origin` and push again)") % {"reason": exc.message},
                                  code=exc.code) from exc
            parent_tree = pushed.tree
        return landed

    def branch(self, update: RefUpdate, name: str) -> None:
        ref = Branch.objects.select_related("head").filter(repo=self.repo, name=name).first()
        head = ref.head if ref is not None else None
        if update.new == ZERO_OID:
            if head is None:
                raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {"revision": name})
            if head.oid != update.old:
                raise Conflict(gettext("stale info: the branch has moved on the hub; fetch first"))
            branch_delete(actor=self.actor, repo=self.repo, name=name, api_key=self.api_key, ip=self.ip)
            return
        if update.old == ZERO_OID and head is not None:
            raise Conflict(gettext("Reference already exists: %(ref)s; fetch first") % {"ref": update.ref})
        if update.old != ZERO_OID and (head is None or head.oid != update.old):
            raise Conflict(gettext("stale info: the branch has moved on the hub; fetch first"))
        chain, base = _chain(self.repo, self.pack, new=update.new, stop=head.oid if head is not None else None)
        if head is not None:
            if base != head.oid:
                # The pushed commits build on a commit the repo holds already (another branch's, a PR's): a
                # fast-forward when it descends from the head, then the new commits on top.
                existing = Commit.objects.filter(repo=self.repo, oid=base).first() if base else None
                if existing is None:
                    raise Conflict(gettext("non-fast-forward: the pushed commits do not build on the branch head "
                                           "%(head)s; pull (rebase) and push again (force pushes are refused)")
                                   % {"head": head.oid[:12]})
                branch_fast_forward(actor=self.actor, repo=self.repo, name=name, to=existing,
                                    expected_head=head.oid, api_key=self.api_key, ip=self.ip)
                head = existing
            self.commits(branch=name, head=head, chain=chain)
            return
        if name.startswith(PR_REF_PREFIX):
            raise InvalidInput(gettext("pull request refs are created by opening a pull request, not by a push"))
        start = None
        if base is None:  # a root commit starts the branch: the checks branch_create makes
            permissions.require_write_repo(self.actor, self.repo, self.api_key)
            check_ref_name(name)
            if Tag.objects.filter(repo=self.repo, name=name).exists():
                raise Conflict(gettext("a tag named %(name)r already exists") % {"name": name})
        else:
            start = Commit.objects.filter(repo=self.repo, oid=base).first()
            if start is None:
                raise InvalidInput(gettext("%(oid)s is neither in the pack nor in the repository")
                                   % {"oid": base[:12]})
            branch_create(actor=self.actor, repo=self.repo, name=name, start_revision=start.oid,
                          api_key=self.api_key, ip=self.ip)
        self.commits(branch=name, head=start, chain=chain)

    def tag(self, update: RefUpdate, name: str) -> None:
        if update.new == ZERO_OID:
            current = Tag.objects.filter(repo=self.repo, name=name).values_list("commit__oid", flat=True).first()
            if current is not None and current != update.old:
                raise Conflict(gettext("stale info: the tag differs on the hub; fetch first"))
            tag_delete(actor=self.actor, repo=self.repo, name=name, api_key=self.api_key, ip=self.ip)
            return
        if update.old != ZERO_OID:
            raise Conflict(gettext("tags are immutable: delete the tag and push it again"))
        found = self.pack(update.new)
        if found is not None and found[0] == "tag":
            raise InvalidInput(gettext("annotated tags are not kept by the hub: push a lightweight tag "
                                       "(`git tag <name>` without -a/-m)"))
        if not Commit.objects.filter(repo=self.repo, oid=update.new).exists():
            raise RevisionNotFound(gettext("the tagged commit %(oid)s is not in the repository: push its branch "
                                           "first") % {"oid": update.new[:12]})
        tag_create(actor=self.actor, repo=self.repo, name=name, revision=update.new, api_key=self.api_key,
                   ip=self.ip)


class _AtomicPushFailed(Exception):
    pass


def push_apply(*, actor: Any, repo: ModelRepo, updates: Sequence[RefUpdate], pack: PackReader,
               api_key: ApiKey | None = None, ip: str | None = None, atomic: bool = False) -> list[RefResult]:
    """Apply a push's ref updates, branches before tags (a tag may name a commit pushed with its branch). Each
    update is atomic and answered on its own: ok, or the reason it was refused. `atomic` (`git push --atomic`):
    all of them or none, in one transaction."""
    push = _Push(actor=actor, repo=repo, pack=pack, api_key=api_key, ip=ip)
    results = {update.ref: RefResult(update.ref) for update in updates}
    ordered = sorted(updates, key=lambda u: u.ref.startswith(TAGS))
    if not atomic:
        for update in ordered:
            _update(push, update, results[update.ref])
        return [results[update.ref] for update in updates]
    try:
        with transaction.atomic():
            for update in ordered:
                if not _update(push, update, results[update.ref]):
                    raise _AtomicPushFailed
    except _AtomicPushFailed:
        for result in results.values():
            if result.error is None:
                result.error = gettext("atomic push failed: another ref was refused")
    return [results[update.ref] for update in updates]


def _update(push: _Push, update: RefUpdate, result: RefResult) -> bool:
    """Apply one ref update in its own transaction; False (and the reason in `result`) when it is refused."""
    try:
        with transaction.atomic():
            if update.ref.startswith(HEADS):
                push.branch(update, update.ref[len(HEADS):])
            elif update.ref.startswith(PR_REF_PREFIX):
                if update.new == ZERO_OID:
                    raise InvalidInput(gettext("a pull request's ref is not a branch: close the pull request "
                                               "instead"))
                push.branch(update, update.ref)
            elif update.ref.startswith(TAGS):
                push.tag(update, update.ref[len(TAGS):])
            else:
                raise InvalidInput(gettext("only branches (refs/heads/…), tags (refs/tags/…) and pull request "
                                           "refs (refs/pr/N) can be pushed"))
    except HubError as exc:
        result.error = exc.message
        return False
    return True
