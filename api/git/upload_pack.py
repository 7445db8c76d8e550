"""Clone and fetch (git-upload-pack) over smart HTTP, protocol v0 and v2 (issue 21).

The objects come from the hub's tables (registry.selectors.git): refs, commit bodies, trees rebuilt from folder
rows, blobs (small files' bytes, LFS pointers). A pack is written undeltified, one zlib stream per object, its
object count known before the first byte (the plan holds ids only) and its SHA-1 trailer computed as it streams;
it goes out in side-band-64k pkt-lines from a StreamingHttpResponse, a folder's rows or a batch of small files at a
time, never whole.

Who may fetch is who may download through /resolve (registry.selectors.resolve.repo_for_download): a private repo
is "not found" to outsiders, a gated one needs the license accepted (small files travel inside git objects), a
taken-down repo is refused, and an API key needs the read scope. Anonymous callers refused get a Basic challenge
so that git asks for credentials (api.git.common).

Negotiation follows git's own upload-pack (stateless RPC): v0 with multi_ack_detailed and no-done (each POST
carries the wants and the haves so far; "done", or a "ready" the server can give, ends it with the pack), v2's
`fetch` with its acknowledgments, shallow-info and packfile sections, and `ls-refs`. Every answer is one a git
client understands; malformed requests get a 400 that git prints.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from dulwich.object_format import SHA1
from dulwich.pack import pack_object_header
from dulwich.protocol import pkt_line

from api.auth import Principal, client_ip
from api.git.common import FLUSH, UPLOAD_PACK, git_error, no_cache, sideband_lines
from registry.exceptions import Disabled, GatedRepo
from registry.models import ModelRepo
from registry.selectors import git as git_selectors
from registry.selectors.resolve import repo_for_download
from registry.services.downloads import repo_download_record, user_download_record

AGENT = b"agent=consortium-hub/1"
REQUEST_MAX_BYTES = 8 * 1024 * 1024  # a negotiation's body, after gunzip too (git sends 50-byte lines)
DEPTH_MAX = 2**31 - 1  # `git fetch --unshallow` asks for this
V0_CAPABILITIES = [b"multi_ack_detailed", b"no-done", b"side-band-64k", b"shallow", b"no-progress",
                   b"include-tag", b"allow-tip-sha1-in-want", b"allow-reachable-sha1-in-want", b"object-format=sha1"]
V2_CAPABILITIES = [b"version 2", AGENT, b"ls-refs", b"fetch=shallow", b"server-option", b"object-format=sha1"]
OID_RE = re.compile(rb"^[0-9a-f]{40}$")
DELIM = b"0001"
OBJ_COMMIT, OBJ_TREE, OBJ_BLOB = 1, 2, 3


class BadRequest(Exception):
    """A request git (or anyone) sent that this server can't read: a 400 whose message git prints."""

    status = 400


class Refused(BadRequest):
    """A fetch this server won't send (a quarantined file in it). Git shows no body of a failed POST, so this is
    answered as git's own upload-pack refuses: 200 with an `ERR <message>` pkt-line ("remote error: …")."""

    status = 200


@dataclass
class _Context:
    """One fetch: the repo and its history, and who asked (to count a clone as a download)."""

    repo: ModelRepo
    principal: Principal
    ip: str | None
    history: git_selectors.History | None = None

    def commits(self) -> git_selectors.History:
        if self.history is None:
            self.history = git_selectors.History(self.repo)
        return self.history

    def plan(self, *, wants: list[str], haves: list[str], depth: int | None,
             client_shallow: list[str]) -> git_selectors.FetchPlan:
        """The objects to send, refused when a small file among them is quarantined (its bytes are in the git
        blob itself: there is no pointer to withhold). A fetch from nothing (a clone) counts as a download."""
        plan = git_selectors.fetch_plan(history=self.commits(), wants=wants, haves=haves, depth=depth,
                                        client_shallow=client_shallow)
        blocked = git_selectors.quarantined_blob(plan)
        if blocked is not None:
            raise Refused(f"This fetch includes a file that failed validation and is quarantined (git blob "
                          f"{blocked}); it can't be downloaded. See the repository's page for details.")
        if not haves and not client_shallow and plan.commits:
            first = self.commits().by_oid[wants[0]]
            repo_download_record(repo_id=self.repo.pk)
            if self.principal.is_authenticated:
                user_download_record(repo_id=self.repo.pk, commit_id=first.pk, user_id=self.principal.user.pk,
                                     api_key_id=self.principal.api_key.pk if self.principal.api_key else None,
                                     ip=self.ip)
        return plan


def _v2(request: HttpRequest) -> bool:
    return "version=2" in request.META.get("HTTP_GIT_PROTOCOL", "").split(":")


def _fetchable_repo(request: HttpRequest, principal: Principal, namespace: str, name: str) -> ModelRepo:
    """The repo, if the caller may download from it (the rule of /resolve); otherwise the refusal, as a HubError
    that api.git.common turns into what git prints."""
    repo, allowed = repo_for_download(viewer=principal.user, namespace=namespace, name=name)
    if principal.api_key is not None and not principal.api_key.has_scope("read"):
        raise GatedRepo("This API key can't read repositories: it needs the read scope.")
    if repo.disabled:
        raise Disabled(f"Access to {repo.repo_id} is disabled.")
    if not allowed:
        page = request.build_absolute_uri(f"/{repo.repo_id}")
        if principal.is_authenticated:
            raise GatedRepo(f"Access to model {repo.repo_id} is restricted and you have not accepted its license. "
                            f"Visit {page} to ask for access.")
        raise GatedRepo(f"Access to model {repo.repo_id} is restricted. Authenticate with an API key as the "
                        f"password, after accepting its license at {page}.")
    return repo


def _line(text: bytes) -> bytes:
    return pkt_line(text + b"\n")


# --- advertisement --------------------------------------------------------------------------------------------


def advertise(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    repo = _fetchable_repo(request, principal, namespace, name)
    if _v2(request):
        body = b"".join(_line(cap) for cap in V2_CAPABILITIES) + FLUSH
    else:
        refs = git_selectors.git_refs(repo=repo)
        caps = [*V0_CAPABILITIES, AGENT]
        head = next((ref for ref in refs if ref.symref_target), None)
        if head is not None:
            caps.insert(0, b"symref=HEAD:" + head.symref_target.encode())
        lines = [ref.oid.encode() + b" " + ref.name.encode() for ref in refs] or [b"0" * 40 + b" capabilities^{}"]
        lines[0] += b"\0" + b" ".join(caps)
        body = _line(b"# service=" + UPLOAD_PACK.encode()) + FLUSH + b"".join(_line(line) for line in lines) + FLUSH
    response = HttpResponse(body, content_type=f"application/x-{UPLOAD_PACK}-advertisement")
    return no_cache(response)


# --- requests -------------------------------------------------------------------------------------------------


def _read_body(request: HttpRequest) -> bytes:
    """The request body, gunzipped when git compressed it, at most REQUEST_MAX_BYTES either way."""
    length = request.META.get("CONTENT_LENGTH") or ""
    if length and (not length.isdigit() or int(length) > REQUEST_MAX_BYTES):
        raise BadRequest(f"the request is over {REQUEST_MAX_BYTES} bytes")
    raw = request.read(REQUEST_MAX_BYTES + 1)
    if len(raw) > REQUEST_MAX_BYTES:
        raise BadRequest(f"the request is over {REQUEST_MAX_BYTES} bytes")
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(raw, REQUEST_MAX_BYTES + 1)
        except zlib.error as exc:
            raise BadRequest("the gzip-encoded request body is corrupt") from exc
        if len(body) > REQUEST_MAX_BYTES or inflater.unconsumed_tail:
            raise BadRequest(f"the request is over {REQUEST_MAX_BYTES} bytes once decompressed")
        return body
    if encoding not in ("", "identity"):
        raise BadRequest(f"unsupported Content-Encoding: {encoding}")
    return raw


def _packets(body: bytes) -> Iterator[bytes | None]:
    """The request's pkt-lines: each line's payload (trailing newline dropped), FLUSH or DELIM for the specials."""
    at = 0
    while at < len(body):
        head = body[at:at + 4]
        if len(head) < 4 or not re.fullmatch(rb"[0-9a-fA-F]{4}", head):
            raise BadRequest("malformed pkt-line in the request")
        size = int(head, 16)
        if size in (0, 1, 2):
            yield {0: FLUSH, 1: DELIM, 2: FLUSH}[size]
            at += 4
            continue
        if size < 4 or at + size > len(body):
            raise BadRequest("malformed pkt-line in the request")
        payload = body[at + 4:at + size]
        yield b"=" + (payload[:-1] if payload.endswith(b"\n") else payload)  # '=' marks data, never a special
        at += size


def _oid(value: bytes, what: str) -> str:
    if not OID_RE.match(value):
        raise BadRequest(f"{what}: not an object id: {value[:60].decode('ascii', 'replace')}")
    return value.decode("ascii")


def _depth(value: bytes) -> int:
    if not value.isdigit() or not 0 < int(value) <= DEPTH_MAX:
        raise BadRequest("deepen: the depth must be a positive number")
    return int(value)


@dataclass
class _Fetch:
    wants: list[str] = field(default_factory=list)
    haves: list[str] = field(default_factory=list)
    shallow: list[str] = field(default_factory=list)
    depth: int | None = None
    done: bool = False
    capabilities: set[bytes] = field(default_factory=set)


# Requests git makes for features this server doesn't advertise: refused in words git prints, not as malformed.
GIT_FEATURES_NOT_SERVED = (b"deepen-since", b"deepen-not", b"filter", b"want-ref", b"deepen-relative",
                           b"sideband-all", b"wait-for-done", b"packfile-uris")


def _unsupported(line: bytes) -> BadRequest:
    return BadRequest(f"unsupported request: {line[:60].decode('utf-8', 'replace')}")


def _fetch_argument(fetch: _Fetch, line: bytes) -> bool:
    """Read the want/shallow/deepen lines both protocols share; False when the line is none of them."""
    word, _, rest = line.partition(b" ")
    if word == b"want":
        fetch.wants.append(_oid(rest[:40], "want"))
    elif word == b"shallow":
        fetch.shallow.append(_oid(rest, "shallow"))
    elif word == b"deepen":
        fetch.depth = _depth(rest)
    elif word in GIT_FEATURES_NOT_SERVED:
        raise Refused(f"this server does not support {word.decode()} (shallow clones take --depth only; no "
                      "partial clone filters)")
    else:
        return False
    return True


# --- the pack -------------------------------------------------------------------------------------------------


def _object(type_num: int, body: bytes) -> Iterator[bytes]:
    yield bytes(pack_object_header(type_num, None, len(body), SHA1))
    compressor = zlib.compressobj(1)
    for start in range(0, len(body), 1 << 20):
        piece = compressor.compress(body[start:start + (1 << 20)])
        if piece:
            yield piece
    yield compressor.flush()


def pack_stream(plan: git_selectors.FetchPlan) -> Iterator[bytes]:
    """The pack of `plan`, in pieces: header with the object count, each object undeltified, the SHA-1 trailer."""
    digest = hashlib.sha1(usedforsecurity=False)

    def objects() -> Iterator[bytes]:
        yield b"PACK" + struct.pack(">II", 2, plan.count)
        for body in git_selectors.commit_bodies(plan.commits):
            yield from _object(OBJ_COMMIT, body)
        for commit_pk, folder in plan.trees.values():
            yield from _object(OBJ_TREE, git_selectors.tree_object(commit_pk, folder))
        for _pk, body in git_selectors.inline_blob_bodies(list(plan.inline_blobs.values())):
            yield from _object(OBJ_BLOB, body)
        for sha256, size in plan.pointer_blobs.values():
            yield from _object(OBJ_BLOB, git_selectors.pointer_body(sha256, size))

    for piece in objects():
        digest.update(piece)
        yield piece
    yield digest.digest()


def _guarded(stream: Iterator[bytes], sideband: bool) -> Iterator[bytes]:
    """The stream, and if reading it fails midway, a fatal side-band message git prints (the status is sent)."""
    try:
        yield from stream
    except Exception:  # noqa: BLE001 - the 200 has gone out; say so on the error band instead of a cut stream
        if sideband:
            yield pkt_line(b"\x03the server failed while sending the pack; retry the fetch\n")
        raise


# --- v0 -------------------------------------------------------------------------------------------------------


def _serve_v0(context: _Context, packets: list[bytes | None]) -> Iterator[bytes] | bytes:
    fetch = _Fetch()
    lines = iter(packets)
    for packet in lines:
        if packet is FLUSH:
            break
        if packet is DELIM or packet is None:
            raise BadRequest("malformed want list")
        line = packet[1:]
        if not fetch.wants and line.startswith(b"want "):
            fetch.capabilities = set(line[46:].split())
        if not _fetch_argument(fetch, line):
            raise _unsupported(line)
    if not fetch.wants:
        return b""  # git sends a flush alone when it has everything
    history = context.commits()
    _check_wants(history, fetch.wants)
    out: list[bytes] = []
    plan_args = {"wants": fetch.wants, "depth": fetch.depth, "client_shallow": fetch.shallow}
    if fetch.depth is not None:
        plan, _boundary = git_selectors.commit_walk(history=history, **plan_args)  # before the haves, as git
        out += [_line(b"shallow " + oid.encode()) for oid in plan.shallow]
        out += [_line(b"unshallow " + oid.encode()) for oid in plan.unshallow]
        out.append(FLUSH)
    detailed = b"multi_ack_detailed" in fetch.capabilities
    multi = detailed or b"multi_ack" in fetch.capabilities
    no_done = b"no-done" in fetch.capabilities
    common: list[str] = []
    got_common = got_other = sent_ready = False
    last = ""
    for packet in lines:  # git's get_common_commits, stateless: the request ends at the first flush or "done"
        if packet is FLUSH:
            if detailed and got_common and not got_other and history.have_ancestors(fetch.wants, set(common)):
                sent_ready = True
                out.append(_line(b"ACK " + last.encode() + b" ready"))
            if not common or multi:
                out.append(_line(b"NAK"))
            if no_done and sent_ready:
                out.append(_line(b"ACK " + last.encode()))
                break
            return b"".join(out)
        if packet is DELIM:
            raise BadRequest("malformed have list")
        line = packet[1:]
        if line == b"done":
            if common:
                if multi:
                    out.append(_line(b"ACK " + last.encode()))
            else:
                out.append(_line(b"NAK"))
            break
        word, _, rest = line.partition(b" ")
        if word != b"have":
            raise _unsupported(line)
        oid = _oid(rest, "have")
        if oid in history.by_oid:
            got_common = True
            last = oid
            if oid not in common:
                common.append(oid)
            if detailed:
                out.append(_line(b"ACK " + oid.encode() + b" common"))
            elif multi:
                out.append(_line(b"ACK " + oid.encode() + b" continue"))
            elif len(common) == 1:
                out.append(_line(b"ACK " + oid.encode()))
        else:
            got_other = True
            if multi and history.have_ancestors(fetch.wants, set(common)):
                sent_ready = detailed
                out.append(_line(b"ACK " + oid.encode() + (b" ready" if detailed else b" continue")))
    else:
        return b"".join(out)  # the request ended before a flush or "done": nothing more to say (as git)
    plan = context.plan(haves=common, **plan_args)
    sideband = b"side-band-64k" in fetch.capabilities or b"side-band" in fetch.capabilities
    pack = pack_stream(plan)
    body: Iterable[bytes] = sideband_lines(pack) if sideband else pack
    tail = [FLUSH] if sideband else []
    return _chain(out, _guarded(iter(body), sideband), tail)


def _chain(*parts: Iterable[bytes]) -> Iterator[bytes]:
    for part in parts:
        yield from part


def _check_wants(history: git_selectors.History, wants: list[str]) -> None:
    missing = [oid for oid in wants if oid not in history.by_oid]
    if missing:
        raise BadRequest(f"upload-pack: not our ref {missing[0]}")


# --- v2 -------------------------------------------------------------------------------------------------------


def _serve_v2(context: _Context, packets: list[bytes | None]) -> Iterator[bytes] | bytes:
    if not packets or packets[0] in (FLUSH, DELIM):
        return b""  # a flush alone: the client has nothing more to ask
    command = packets[0][1:]
    rest = packets[1:]
    capabilities, args = [], []
    target = capabilities
    for packet in rest:
        if packet is DELIM and target is capabilities:
            target = args
            continue
        if packet is FLUSH:
            break
        if packet is DELIM:
            raise BadRequest("malformed command request")
        target.append(packet[1:])
    else:
        raise BadRequest("the command request has no closing flush-pkt")
    for capability in capabilities:
        if capability.startswith(b"object-format=") and capability != b"object-format=sha1":
            raise BadRequest("this server speaks object-format=sha1 only")
    if command == b"command=ls-refs":
        return _ls_refs(context.repo, args)
    if command == b"command=fetch":
        return _fetch_v2(context, args)
    raise BadRequest(f"unknown command: {command[:60].decode('utf-8', 'replace')}")


def _ls_refs(repo: ModelRepo, args: list[bytes]) -> bytes:
    prefixes = [arg[len(b"ref-prefix "):].decode("utf-8", "replace") for arg in args if arg.startswith(b"ref-prefix ")]
    symrefs = b"symrefs" in args
    for arg in args:
        if arg not in (b"peel", b"symrefs", b"unborn") and not arg.startswith(b"ref-prefix "):
            raise _unsupported(arg)
    out = []
    for ref in git_selectors.git_refs(repo=repo):
        if prefixes and not any(ref.name.startswith(prefix) for prefix in prefixes):
            continue
        line = ref.oid.encode() + b" " + ref.name.encode()
        if symrefs and ref.symref_target:
            line += b" symref-target:" + ref.symref_target.encode()
        out.append(_line(line))
    return b"".join(out) + FLUSH


# What a v2 fetch may ask for that changes nothing here (no deltas, no progress, no annotated tags to include);
# sideband-all, wait-for-done and packfile-uris are not advertised, so asking for them is a 400.
V2_FETCH_FLAGS = {b"thin-pack", b"no-progress", b"include-tag", b"ofs-delta"}


def _fetch_v2(context: _Context, args: list[bytes]) -> Iterator[bytes] | bytes:
    fetch = _Fetch()
    for line in args:
        if line == b"done":
            fetch.done = True
        elif line.startswith(b"have "):
            fetch.haves.append(_oid(line[5:], "have"))
        elif line in V2_FETCH_FLAGS:
            fetch.capabilities.add(line)
        elif line.partition(b" ")[0] in GIT_FEATURES_NOT_SERVED:
            raise Refused(f"this server does not support {line.partition(b' ')[0].decode()}")
        elif not _fetch_argument(fetch, line):
            raise _unsupported(line)
    if not fetch.wants:
        raise BadRequest("fetch: no want")
    history = context.commits()
    _check_wants(history, fetch.wants)
    common = [oid for oid in fetch.haves if oid in history.by_oid]
    out: list[bytes] = []
    if not fetch.done:
        out.append(_line(b"acknowledgments"))
        out += [_line(b"ACK " + oid.encode()) for oid in common] or [_line(b"NAK")]
        ready = bool(common) and history.have_ancestors(fetch.wants, set(common))
        if not ready:
            return b"".join(out) + FLUSH
        out += [_line(b"ready"), DELIM]
    plan = context.plan(wants=fetch.wants, haves=common, depth=fetch.depth, client_shallow=fetch.shallow)
    if fetch.depth is not None or fetch.shallow:
        out.append(_line(b"shallow-info"))
        out += [_line(b"shallow " + oid.encode()) for oid in plan.shallow]
        out += [_line(b"unshallow " + oid.encode()) for oid in plan.unshallow]
        out.append(DELIM)
    out.append(_line(b"packfile"))
    return _chain(out, _guarded(sideband_lines(pack_stream(plan)), True), [FLUSH])


# --- the view -------------------------------------------------------------------------------------------------


def serve(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    repo = _fetchable_repo(request, principal, namespace, name)
    content_type = f"application/x-{UPLOAD_PACK}-result"
    try:
        packets = list(_packets(_read_body(request)))
        context = _Context(repo, principal, client_ip(request))
        answer = _serve_v2(context, packets) if _v2(request) else _serve_v0(context, packets)
    except Refused as exc:
        return no_cache(HttpResponse(pkt_line(b"ERR " + str(exc).encode()), content_type=content_type))
    except BadRequest as exc:
        return git_error(exc.status, str(exc))
    if isinstance(answer, bytes):
        response: HttpResponse | StreamingHttpResponse = HttpResponse(answer, content_type=content_type)
    else:
        response = StreamingHttpResponse(answer, content_type=content_type)
    return no_cache(response)  # type: ignore[return-value]
