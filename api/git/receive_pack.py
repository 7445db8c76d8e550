"""Push (git-receive-pack) over smart HTTP: the ref advertisement for writers, and the push itself.

`serve` spools the request body (gzip or not) to a temporary file, at most settings.GIT_PUSH_MAX_PACK_SIZE bytes,
reads the commands (old new ref) and indexes the pack with dulwich (deltas resolved inside the pack; a thin pack's
bases are read from the repo's rows), then hands the updates to registry.services.git_push.push_apply, the one place
that decides what a push means. The answer is git's report-status ("unpack ok", then "ok <ref>" or
"ng <ref> <reason>" per ref), inside side-band-64k when the client asked for it, so `git push` prints the hub's
reason beside each refused ref. A request git could not have sent gets a 4xx whose text git prints.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import zlib
from typing import IO

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from dulwich.protocol import pkt_line

from api.auth import Principal, client_ip
from api.git.common import FLUSH, RECEIVE_PACK, git_error, no_cache, sideband_lines
from registry import permissions
from registry.models import ModelRepo
from registry.selectors.repos import repo_get, repo_pr_refs, repo_refs
from registry.services.git_push import ZERO_OID, RefUpdate, push_apply, repo_object

logger = logging.getLogger(__name__)

CAPABILITIES = (b"report-status side-band-64k delete-refs quiet atomic no-thin ofs-delta "
                b"agent=consortium-hub object-format=sha1")
MAX_PKT = 65520
MAX_COMMANDS = 1000
READ_CHUNK = 64 * 1024
COMMAND_RE = re.compile(r"^([0-9a-f]{40}) ([0-9a-f]{40}) (refs/[^\0 ]+)$")
OID_RE = re.compile(r"^[0-9a-f]{40}$")
TYPE_NAMES = {1: "commit", 2: "tree", 3: "blob", 4: "tag"}


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def write_refusal(principal: Principal, repo: ModelRepo) -> HttpResponse | None:
    """Anonymous callers are asked for credentials; readers (and read-scoped keys) refused with a 403."""
    if not principal.is_authenticated:
        return git_error(401, "Authentication required to push: use an API key with write access as the password.",
                         challenge=True)
    if not permissions.can_write_repo(principal.user, repo, principal.api_key):
        return git_error(403, "You don't have write access to this repository.")
    return None


def advertise(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    repo = repo_get(viewer=principal.user, namespace=namespace, name=name)
    refused = write_refusal(principal, repo)
    if refused is not None:
        return refused
    branches, tags = repo_refs(repo=repo)
    refs = [(b.head.oid, f"refs/heads/{b.name}") for b in branches]
    refs += [(t.commit.oid, f"refs/tags/{t.name}") for t in tags]
    refs += [(b.head.oid, b.name) for _number, b in repo_pr_refs(repo=repo)]
    if not refs:
        refs = [(ZERO_OID, "capabilities^{}")]
    lines = [pkt_line(b"# service=git-receive-pack\n"), FLUSH]
    for index, (oid, ref) in enumerate(refs):
        line = f"{oid} {ref}".encode()
        if index == 0:
            line += b"\0" + CAPABILITIES
        lines.append(pkt_line(line + b"\n"))
    lines.append(FLUSH)
    return _response(b"".join(lines), f"application/x-{RECEIVE_PACK}-advertisement")


def _response(body: bytes, content_type: str) -> HttpResponse:
    return no_cache(HttpResponse(body, content_type=content_type))  # type: ignore[return-value]


def _spool(request: HttpRequest, into: IO[bytes]) -> None:
    """Copy the request body into `into`, un-gzipped, refusing more than the pack size cap."""
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise Refused(415, f"Unsupported Content-Encoding: {encoding[:40]}")
    limit = settings.GIT_PUSH_MAX_PACK_SIZE + MAX_COMMANDS * 512
    declared = request.META.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and not encoding.endswith("gzip") and int(declared) > limit:
        raise Refused(413, _too_large())  # refused before a byte is read
    if declared:
        read = request.read
    elif (request.META.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
          and request.META.get("wsgi.input_terminated")):
        read = request.META["wsgi.input"].read  # the server decoded the chunks (gunicorn); Django reads none
    elif request.META.get("HTTP_TRANSFER_ENCODING"):
        raise Refused(411, "This server needs a Content-Length: run `git config http.postBuffer 2147483648` "
                           "and push again")
    else:
        read = request.read
    inflate = zlib.decompressobj(wbits=31) if encoding in ("gzip", "x-gzip") else None
    written = 0
    while True:
        chunk = read(READ_CHUNK)
        if not chunk:
            break
        if inflate is not None:
            try:
                chunk = inflate.decompress(chunk, limit + 1 - written)
                if inflate.unconsumed_tail:
                    raise Refused(413, _too_large())
            except zlib.error as exc:
                raise Refused(400, "The request body is not valid gzip") from exc
        written += len(chunk)
        if written > limit:
            raise Refused(413, _too_large())
        into.write(chunk)
    if inflate is not None and not inflate.eof:
        raise Refused(400, "The request body is truncated gzip")


def _too_large() -> str:
    return (f"The push is larger than {settings.GIT_PUSH_MAX_PACK_SIZE} bytes (GIT_PUSH_MAX_PACK_SIZE): track "
            "large files with git-lfs (`git lfs track`) and push fewer commits at a time")


def _read_commands(body: IO[bytes]) -> tuple[list[RefUpdate], set[bytes]]:
    """The pkt-line commands up to the flush; the pack follows."""
    updates: list[RefUpdate] = []
    capabilities: set[bytes] = set()
    while True:
        head = body.read(4)
        if len(head) < 4:
            raise Refused(400, "Malformed push: the commands end without a flush packet")
        try:
            length = int(head, 16)
        except ValueError as exc:
            raise Refused(400, "Malformed push: bad pkt-line length") from exc
        if length == 0:
            break
        if length < 4 or length > MAX_PKT:
            raise Refused(400, "Malformed push: bad pkt-line length")
        data = body.read(length - 4)
        if len(data) != length - 4:
            raise Refused(400, "Malformed push: truncated pkt-line")
        if not updates:
            data, _, caps = data.partition(b"\0")
            capabilities = set(caps.split())
        elif b"\0" in data:
            raise Refused(400, "Malformed push: capabilities after the first command")
        line = data.rstrip(b"\n").decode("utf-8", errors="replace")
        if line.startswith(("shallow ", "push-cert")):
            raise Refused(400, "Shallow and signed pushes are not supported: push from a full clone, unsigned")
        match = COMMAND_RE.match(line)
        if match is None:
            raise Refused(400, "Malformed push: a command must be '<old id> <new id> <ref>'")
        update = RefUpdate(match[1], match[2], match[3])
        if update.old == ZERO_OID and update.new == ZERO_OID:
            raise Refused(400, f"Malformed push: nothing to do for {update.ref}")
        if any(u.ref == update.ref for u in updates):
            raise Refused(400, f"Malformed push: {update.ref} appears twice")
        updates.append(update)
        if len(updates) > MAX_COMMANDS:
            raise Refused(400, f"A push may update at most {MAX_COMMANDS} refs")
    return updates, capabilities


def serve(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    repo = repo_get(viewer=principal.user, namespace=namespace, name=name)
    refused = write_refusal(principal, repo)
    if refused is not None:
        return refused
    with tempfile.TemporaryDirectory(prefix="git-push-") as folder:
        try:
            with open(os.path.join(folder, "request"), "w+b") as body:
                _spool(request, body)
                body.seek(0)
                updates, capabilities = _read_commands(body)
                with open(os.path.join(folder, "push.pack"), "wb") as pack_file:
                    shutil.copyfileobj(body, pack_file)
        except Refused as exc:
            return git_error(exc.status, exc.message)
        if not updates:
            # git's probe before a large (chunked) push, and a push with nothing to update: nothing to do
            return _response(b"", f"application/x-{RECEIVE_PACK}-result")
        pack = None
        unpack_error = None
        if os.path.getsize(os.path.join(folder, "push.pack")):
            unpack_error = _oversized_object(os.path.join(folder, "push.pack"))
        if unpack_error is None and os.path.getsize(os.path.join(folder, "push.pack")):
            try:
                pack = _index_pack(os.path.join(folder, "push"), repo)
            except Exception as exc:  # noqa: BLE001 — any failure to read a client's pack is the client's
                logger.info("git push to %s/%s: unreadable pack: %r", namespace, name, exc)
                unpack_error = "the pack could not be read"
        try:
            if unpack_error is None:
                results = push_apply(actor=principal.user, repo=repo, updates=updates, pack=_reader(pack),
                                     api_key=principal.api_key, ip=client_ip(request),
                                     atomic=b"atomic" in capabilities)
                lines = [b"unpack ok\n"] + [
                    f"ok {r.ref}\n".encode() if r.error is None else f"ng {r.ref} {_one_line(r.error)}\n".encode()
                    for r in results]
            else:
                lines = [f"unpack {unpack_error}\n".encode()]
                lines += [f"ng {u.ref} {_one_line(unpack_error)}\n".encode() for u in updates]
        finally:
            if pack is not None:
                pack.close()
    return _report(lines, capabilities)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:1000]


def _report(lines: list[bytes], capabilities: set[bytes]) -> HttpResponse:
    content_type = f"application/x-{RECEIVE_PACK}-result"
    if b"report-status" not in capabilities:
        return _response(b"", content_type)
    report = b"".join(pkt_line(line) for line in lines) + FLUSH
    if b"side-band-64k" in capabilities:
        report = b"".join(sideband_lines([report])) + FLUSH
    return _response(report, content_type)


OBJECT_MAX_BYTES = 32 * 1024 * 1024  # an object a push may hold, inflated (a plain file over the inline limit is
# refused later anyway, with the git-lfs hint; trees of 20,000 files are about 1 MB)
OFS_DELTA, REF_DELTA = 6, 7


def _oversized_object(path: str) -> str | None:
    """Why the pack holds an object too large to read (its declared size, or a delta's result size, over the
    limit), else None. dulwich inflates each object whole in memory, so a few KB of zlib could otherwise ask the
    server for gigabytes: this pass reads each object's header and inflates it in 64 KB pieces, keeping nothing.
    A pack it can't follow is left to dulwich to refuse."""
    limit = max(settings.INLINE_FILE_MAX_SIZE, OBJECT_MAX_BYTES)
    too_big = ("an object in the pack is {size} bytes inflated, over the {limit} bytes a push may carry: large "
               "files go through git-lfs (`git lfs install`, `git lfs track \"*.ext\"`, commit them again)")
    with open(path, "rb") as pack:
        buffer = pack.read(12)
        if len(buffer) < 12 or buffer[:4] != b"PACK":
            return None
        count = int.from_bytes(buffer[8:12], "big")
        buffer = b""

        def take(n: int) -> bytes:
            nonlocal buffer
            while len(buffer) < n:
                more = pack.read(READ_CHUNK)
                if not more:
                    raise EOFError
                buffer += more
            piece, buffer = buffer[:n], buffer[n:]
            return piece

        try:
            for _ in range(count):
                byte = take(1)[0]
                kind, size, shift = (byte >> 4) & 7, byte & 15, 4
                while byte & 0x80:
                    byte = take(1)[0]
                    size |= (byte & 0x7F) << shift
                    shift += 7
                if kind == OFS_DELTA:
                    while take(1)[0] & 0x80:
                        pass
                elif kind == REF_DELTA:
                    take(20)
                if size > limit:
                    return too_big.format(size=size, limit=limit)
                inflater, head, seen, data = zlib.decompressobj(), b"", 0, buffer
                buffer = b""
                while True:
                    out = inflater.decompress(data, READ_CHUNK)
                    seen += len(out)
                    if kind in (OFS_DELTA, REF_DELTA) and len(head) < 20:
                        head += out[:20 - len(head)]
                    if seen > limit:
                        return too_big.format(size=f"more than {limit}", limit=limit)
                    if inflater.eof:
                        buffer = inflater.unused_data
                        break
                    data = inflater.unconsumed_tail or pack.read(READ_CHUNK)
                    if not data:
                        return None
                if kind in (OFS_DELTA, REF_DELTA):
                    target = _delta_target_size(head)
                    if target is not None and target > limit:
                        return too_big.format(size=target, limit=limit)
        except (EOFError, zlib.error):
            return None
    return None


def _delta_target_size(head: bytes) -> int | None:
    """A delta's result size: the second of the two varints it starts with (base size, result size)."""
    at = 0
    values = []
    for _ in range(2):
        value, shift = 0, 0
        while True:
            if at >= len(head):
                return None
            byte = head[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        values.append(value)
    return values[1]


def _index_pack(basename: str, repo: ModelRepo):  # noqa: ANN202 — dulwich.pack.Pack
    from dulwich.object_format import SHA1
    from dulwich.pack import Pack, PackData

    def external(sha: bytes | str) -> tuple[int, bytes]:
        oid = sha.hex() if isinstance(sha, bytes) and len(sha) == 20 else (
            sha.decode("ascii") if isinstance(sha, bytes) else sha)
        found = repo_object(repo, oid)
        if found is None:
            raise KeyError(oid)
        return found

    data = PackData(basename + ".pack", object_format=SHA1)
    try:
        data.create_index(basename + ".idx", resolve_ext_ref=external)
    finally:
        data.close()
    return Pack(basename, object_format=SHA1, resolve_ext_ref=external)


def _reader(pack):  # noqa: ANN001, ANN202
    def read(oid: str) -> tuple[str, bytes] | None:
        if pack is None or not OID_RE.match(oid):
            return None
        try:
            type_num, raw = pack.get_raw(oid.encode("ascii"))
        except KeyError:
            return None
        kind = TYPE_NAMES.get(type_num)
        if kind is None:
            return None
        return kind, raw if isinstance(raw, bytes) else b"".join(raw)

    return read
