"""Git objects as the hub makes them: tree and commit bodies and their ids, pure functions, no models.

A commit's id is the SHA-1 of a real git commit object (`commit_body`), whose tree is the git tree of its files:
small files are blobs of their bytes, LFS/Xet files blobs of their LFS pointer (registry.hashing.lfs_pointer), every
file mode 100644 (the hub keeps no executable bits or symlinks), folders subtrees (mode 40000). The commit service,
the folder rows (registry.tree_index.folders_of), the git smart-HTTP server and the migration that moved older ids
all build them here, so an id is the same whoever computes it — and the same as `git` computes from a clone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FILE_MODE = b"100644"
TREE_MODE = b"40000"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
NOREPLY_DOMAIN = "users.noreply.hub"  # authors' addresses in commits the hub writes: never a member's real e-mail


def object_id(kind: str, body: bytes) -> str:
    """The git id of an object: sha1 of "<kind> <len>\\0<body>"."""
    digest = hashlib.sha1(f"{kind} {len(body)}\0".encode(), usedforsecurity=False)
    digest.update(body)
    return digest.hexdigest()


def tree_body(entries: Iterable[tuple[str, bool, str]]) -> bytes:
    """A tree object's body from (name, is_folder, hex id) entries, in git's order: names byte by byte, a folder's
    name compared as if it ended in '/' (so 'a.txt' sorts before the folder 'a', and 'a-b' before it too)."""
    rows = sorted(((name.encode() + (b"/" if folder else b""), name.encode(), folder, oid)
                   for name, folder, oid in entries), key=lambda row: row[0])
    return b"".join((TREE_MODE if folder else FILE_MODE) + b" " + name + b"\0" + bytes.fromhex(oid)
                    for _key, name, folder, oid in rows)


@dataclass(frozen=True)
class Signature:
    """An author or committer line: name, e-mail, seconds since the epoch, UTC offset as git writes it."""

    name: str
    email: str
    when: int
    offset: str = "+0000"

    def line(self) -> bytes:
        name = _one_line(self.name).replace("<", "").replace(">", "").strip() or "unknown"
        email = _one_line(self.email).replace("<", "").replace(">", "").strip()
        return f"{name} <{email}> {self.when} {self.offset}".encode()


def _one_line(text: str) -> str:
    return text.replace("\n", " ").replace("\0", " ")


def hub_signature(username: str, when: int) -> Signature:
    """Who the hub writes as author and committer of a commit made through its API or portal."""
    return Signature(username or "system", f"{username or 'system'}@{NOREPLY_DOMAIN}", when)


def commit_message(title: str, description: str = "") -> str:
    """The message of a commit the hub writes: the summary, then the description after a blank line."""
    title = title.strip()
    description = description.strip()
    return f"{title}\n\n{description}\n" if description else f"{title}\n"


def commit_body(*, tree: str, parents: Sequence[str], author: Signature, committer: Signature,
                message: str) -> bytes:
    lines = [b"tree " + tree.encode()]
    lines += [b"parent " + parent.encode() for parent in parents]
    lines += [b"author " + author.line(), b"committer " + committer.line()]
    return b"\n".join(lines) + b"\n\n" + message.encode()


def lfs_pointer_body(sha256: str, size: int) -> bytes:
    from registry.hashing import lfs_pointer

    return lfs_pointer(sha256, size)


def commit_header(body: bytes) -> tuple[str, list[str]]:
    """The tree id and the parent ids of a commit body (ValueError when it isn't one)."""
    tree, parents = "", []
    for line in body.split(b"\n\n", 1)[0].split(b"\n"):
        key, _, value = line.partition(b" ")
        if key == b"tree" and not tree:
            tree = value.decode("ascii")
        elif key == b"parent":
            parents.append(value.decode("ascii"))
    if len(tree) != 40 or any(len(p) != 40 for p in parents):
        raise ValueError("not a commit object")
    return tree, parents
