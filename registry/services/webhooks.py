"""Webhooks (HF_COMMUNITY.md §2): managing hooks, matching hub events to them, and delivering the payload.

- Management: `webhook_create` / `webhook_update` / `webhook_set_disabled` / `webhook_delete` / `webhook_replay`.
  A hook belongs to a user (the HF client's per-user hooks) or to an organisation (its admins manage it).
- Matching: `registry.hooks.hub_event(...)` calls `webhooks_dispatch(event)` after the producer's transaction
  commits. It finds the enabled hooks whose watched items cover the repo (its id, or its user/org namespace), whose
  domains cover the scope, and whose owner can read the repo (a private repo's events never reach someone who can't
  see it), and writes one WebhookDelivery and one Job row per hook in one transaction (the outbox).
- Delivery: `webhook_deliver(delivery_id)` POSTs the payload (the client's WebhookPayload v3) with
  `X-Webhook-Secret`, a timeout, no redirects followed, to an address checked against SSRF targets (every resolved
  address, and the connection goes to the address that was checked: no DNS rebinding). A failed attempt raises
  `WebhookRetry` (the task retries with backoff) until MAX_ATTEMPTS; a delivery that fails for good adds to the
  hook's failure streak, and DISABLE_AFTER failed deliveries in a row disable the hook and e-mail its owner.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from registry import hooks, permissions
from registry.exceptions import InvalidInput, PermissionDenied, WebhookNotFound
from registry.models import (
    Branch,
    Discussion,
    DiscussionEvent,
    Membership,
    ModelRepo,
    Organization,
    Release,
    Webhook,
    WebhookDelivery,
    WebhookWatch,
)
from registry.models.webhooks import RESPONSE_EXCERPT_MAX, WATCHED_TYPES, WEBHOOK_DOMAINS
from registry.selectors.pulls import pr_changes
from registry.services.audit import audit_record
from registry.services.jobs import job_dispatch, job_enqueue
from registry.site import site_name, site_url

logger = logging.getLogger(__name__)

TASK = "registry.deliver_webhook"
MAX_ATTEMPTS = 5  # per delivery, then it has failed
DISABLE_AFTER = 10  # failed deliveries in a row disable the hook
TIMEOUT_SECONDS = 10
RETRY_GRACE_SECONDS = 60  # past a retry's countdown, the sweep resends its job (the message was lost)
URL_MAX = 2000
SECRET_MAX = 200
WATCHED_MAX = 100
HOOKS_PER_OWNER = 100  # a user's or an organisation's: each event fans out to at most this many of one owner's
PAYLOAD_VERSION = 3
USER_AGENT = "consortium-hub-webhooks/1"


class WebhookRetry(Exception):
    """A delivery attempt failed and may be tried again (the task retries with backoff)."""

    def __init__(self, message: str, *, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class UnsafeTarget(Exception):
    """The URL's host resolves to an address webhooks may not reach (private, loopback, …)."""


# --- validation ------------------------------------------------------------------------------------------------


def allow_private() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE", False))


def _forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or not ip.is_global)


def _literal_ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def clean_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput(gettext("url is required"))
    url = url.strip()
    if len(url) > URL_MAX:
        raise InvalidInput(gettext("url is longer than %(max)d characters") % {"max": URL_MAX})
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise InvalidInput(gettext("url must not contain spaces or control characters"))
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError as exc:
        raise InvalidInput(gettext("url is not a valid URL: %(error)s") % {"error": exc}) from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(gettext("url must be an http:// or https:// URL"))
    if not parts.hostname:
        raise InvalidInput(gettext("url needs a host"))
    if parts.username or parts.password:
        raise InvalidInput(gettext("url must not carry credentials"))
    literal = _literal_ip(parts.hostname)
    if literal is not None and not allow_private() and _forbidden_address(literal):
        raise InvalidInput(gettext("url points at a private, loopback or reserved address, which webhooks may not "
                                    "reach"))
    return url


def clean_domains(domains: Any) -> list[str]:
    if domains is None:
        return list(WEBHOOK_DOMAINS)
    if not isinstance(domains, list) or not domains or not all(isinstance(d, str) for d in domains):
        raise InvalidInput(gettext("domains must be a non-empty list of %(domains)s")
                           % {"domains": ", ".join(WEBHOOK_DOMAINS)})
    unknown = sorted(set(domains) - set(WEBHOOK_DOMAINS))
    if unknown:
        raise InvalidInput(gettext("unknown domain(s) %(unknown)s: use %(domains)s")
                           % {"unknown": ", ".join(unknown), "domains": ", ".join(WEBHOOK_DOMAINS)})
    return [d for d in WEBHOOK_DOMAINS if d in domains]


def clean_watched(watched: Any) -> list[dict[str, str]]:
    if not isinstance(watched, list):
        raise InvalidInput(gettext("watched must be a list of {type, name}"))
    if len(watched) > WATCHED_MAX:
        raise InvalidInput(gettext("a webhook watches at most %(max)d items") % {"max": WATCHED_MAX})
    seen: set[tuple[str, str]] = set()
    cleaned = []
    for item in watched:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str) or not isinstance(item.get("name"),
                                                                                                   str):
            raise InvalidInput(gettext("each watched item needs a type and a name"))
        kind, name = item["type"], item["name"].strip()
        if kind not in WATCHED_TYPES:
            raise InvalidInput(gettext("watched type must be one of %(types)s") % {"types": ", ".join(WATCHED_TYPES)})
        if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
            raise InvalidInput(gettext("a watched name must be 1 to 200 printable characters"))
        if kind in ("model", "dataset", "space", "bucket") and name.count("/") != 1:
            raise InvalidInput(gettext("a watched %(type)s is named namespace/name") % {"type": kind})
        if kind in ("user", "org") and "/" in name:
            raise InvalidInput(gettext("a watched %(type)s is a bare name") % {"type": kind})
        if (kind, name.lower()) not in seen:
            seen.add((kind, name.lower()))
            cleaned.append({"type": kind, "name": name})
    return cleaned


def clean_secret(secret: Any) -> str:
    if secret is None:
        return ""
    if not isinstance(secret, str):
        raise InvalidInput(gettext("secret must be a string"))
    if len(secret) > SECRET_MAX:
        raise InvalidInput(gettext("secret is longer than %(max)d characters") % {"max": SECRET_MAX})
    if not secret.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in secret):
        raise InvalidInput(gettext("secret must be printable ASCII (it is sent as a header)"))
    return secret


# --- who manages what ------------------------------------------------------------------------------------------


def can_manage(user: Any, webhook: Webhook) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if webhook.owner_user_id is not None:
        return webhook.owner_user_id == user.pk
    return bool(user.is_superuser) or permissions.org_role(user, webhook.owner_org) == Membership.Role.ADMIN


def _write_watches(webhook: Webhook) -> None:
    WebhookWatch.objects.filter(webhook=webhook).delete()
    WebhookWatch.objects.bulk_create(
        [WebhookWatch(webhook=webhook, type=w["type"], name=w["name"].lower()) for w in webhook.watched])


def _audit(actor: Any, action: str, webhook: Webhook, ip: str | None, **extra: Any) -> None:
    audit_record(actor=actor, action=action, target=webhook, target_label=webhook.uid, ip=ip,
                 metadata={"owner": webhook.owner_label, "url": webhook.url, **extra})


def webhook_create(*, actor: Any, url: Any, watched: Any, domains: Any = None, secret: Any = None,
                   org: Organization | None = None, ip: str | None = None) -> Webhook:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise PermissionDenied(gettext("sign in to create webhooks"))
    if org is not None and not (actor.is_superuser
                                or permissions.org_role(actor, org) == Membership.Role.ADMIN):
        raise PermissionDenied(gettext("only the organisation's admins manage its webhooks"))
    hook = Webhook(owner_user=None if org else actor, owner_org=org, url=clean_url(url),
                   watched=clean_watched(watched), domains=clean_domains(domains), secret=clean_secret(secret),
                   created_by=actor)
    owned = Webhook.objects.filter(owner_org=org) if org else Webhook.objects.filter(owner_user=actor)
    if owned.count() >= HOOKS_PER_OWNER:
        raise InvalidInput(gettext("a user or an organisation has at most %(max)d webhooks: delete one first")
                           % {"max": HOOKS_PER_OWNER})
    with transaction.atomic():
        hook.save()
        _write_watches(hook)
        _audit(actor, "webhook.create", hook, ip, watched=hook.watched, domains=hook.domains)
    return hook


def webhook_update(*, actor: Any, webhook: Webhook, url: Any = None, watched: Any = None, domains: Any = None,
                   secret: Any = None, ip: str | None = None) -> Webhook:
    """Change what is given. An empty `watched` leaves the list as it is: the HF client always sends `watched`
    (`[]` when the caller gave none)."""
    if not can_manage(actor, webhook):
        raise WebhookNotFound(gettext("Webhook not found"))
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = clean_url(url)
    if watched is not None:
        cleaned = clean_watched(watched)
        if cleaned:
            changes["watched"] = cleaned
    if domains is not None:
        changes["domains"] = clean_domains(domains)
    if secret is not None:
        changes["secret"] = clean_secret(secret)
    changes = {k: v for k, v in changes.items() if getattr(webhook, k) != v}
    if not changes:
        return webhook
    with transaction.atomic():
        for key, value in changes.items():
            setattr(webhook, key, value)
        webhook.updated_at = timezone.now()
        webhook.save(update_fields=[*changes, "updated_at"])
        if "watched" in changes:
            _write_watches(webhook)
        _audit(actor, "webhook.update", webhook, ip, changed=sorted(changes))
    return webhook


def webhook_set_disabled(*, actor: Any, webhook: Webhook, disabled: bool, reason: str = "",
                         ip: str | None = None, staff: bool = False) -> Webhook:
    """Enable or disable. Enabling clears the failure streak (the owner says the receiver is back)."""
    if not (staff and getattr(actor, "is_staff", False)) and not can_manage(actor, webhook):
        raise WebhookNotFound(gettext("Webhook not found"))
    with transaction.atomic():
        webhook.disabled = disabled
        webhook.disabled_reason = (reason or "")[:300] if disabled else ""
        if not disabled:
            webhook.failure_streak = 0
        webhook.updated_at = timezone.now()
        webhook.save(update_fields=["disabled", "disabled_reason", "failure_streak", "updated_at"])
        _audit(actor, "webhook.disable" if disabled else "webhook.enable", webhook, ip)
    return webhook


def webhook_delete(*, actor: Any, webhook: Webhook, ip: str | None = None, staff: bool = False) -> None:
    if not (staff and getattr(actor, "is_staff", False)) and not can_manage(actor, webhook):
        raise WebhookNotFound(gettext("Webhook not found"))
    with transaction.atomic():
        _audit(actor, "webhook.delete", webhook, ip)
        webhook.delete()


def webhook_replay(*, actor: Any, delivery: WebhookDelivery, ip: str | None = None,
                   staff: bool = False) -> WebhookDelivery:
    """Send a logged delivery's payload again, as a new delivery (the log keeps both)."""
    webhook = delivery.webhook
    if not (staff and getattr(actor, "is_staff", False)) and not can_manage(actor, webhook):
        raise WebhookNotFound(gettext("Webhook not found"))
    with transaction.atomic():
        again = WebhookDelivery.objects.create(webhook=webhook, scope=delivery.scope, action=delivery.action,
                                               repo_name=delivery.repo_name, payload=delivery.payload,
                                               replay_of=delivery)
        job_enqueue(task=TASK, key=again.pk, send=_send)
        _audit(actor, "webhook.replay", webhook, ip, delivery=delivery.pk)
    return again


def _send(delivery_id: int) -> None:
    job_dispatch(task=TASK, key=delivery_id)


# --- payloads --------------------------------------------------------------------------------------------------


def _repo_part(repo: ModelRepo, *, name: str | None = None, head_sha: str | None = None) -> dict[str, Any]:
    base = site_url()
    repo_name = name or repo.repo_id
    owner = repo.owner_org_id if repo.owner_org_id is not None else repo.owner_user_id
    part: dict[str, Any] = {
        "type": "model", "name": repo_name, "id": str(repo.pk), "private": bool(repo.private),
        "url": {"web": f"{base}/{repo_name}", "api": f"{base}/api/models/{repo_name}"},
        "owner": {"id": str(owner)},
    }
    if head_sha:
        part["headSha"] = head_sha
    return part


def _discussion_part(repo: ModelRepo, discussion: Discussion) -> dict[str, Any]:
    base = site_url()
    part: dict[str, Any] = {
        "id": str(discussion.pk), "num": discussion.num, "title": discussion.title, "status": discussion.status,
        "isPullRequest": discussion.is_pull_request,
        "author": {"id": str(discussion.author_id or discussion.author_name or "")},
        "url": {"web": f"{base}/{repo.repo_id}/discussions/{discussion.num}",
                "api": f"{base}/api/models/{repo.repo_id}/discussions/{discussion.num}"},
    }
    if discussion.is_pull_request:
        part["changes"] = pr_changes(discussion)
    return part


def _deleted_discussion(repo: ModelRepo, event: dict[str, Any]) -> dict[str, Any] | None:
    snapshot = event.get("snapshot")
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("num"), int):
        return None
    base = site_url()
    num = snapshot["num"]
    return {"id": str(event.get("discussion_id") or ""), "num": num, "title": str(snapshot.get("title") or ""),
            "status": snapshot.get("status") if snapshot.get("status") in Discussion.Status.values else "closed",
            "isPullRequest": bool(snapshot.get("isPullRequest")),
            "author": {"id": str(snapshot.get("author") or "")},
            "url": {"web": f"{base}/{repo.repo_id}/discussions/{num}",
                    "api": f"{base}/api/models/{repo.repo_id}/discussions/{num}"}}


def _comment_part(repo: ModelRepo, discussion: Discussion, comment: DiscussionEvent) -> dict[str, Any]:
    part: dict[str, Any] = {
        "id": comment.eid, "author": {"id": str(comment.author_id or comment.author_name or "")},
        "hidden": bool(comment.hidden),
        "url": {"web": f"{site_url()}/{repo.repo_id}/discussions/{discussion.num}#{comment.eid}"},
    }
    if not comment.hidden:
        part["content"] = comment.content
    return part


def _release_part(release: Release, action: str) -> dict[str, Any]:
    return {
        "id": str(release.pk), "action": action, "version": release.version, "title": release.title,
        "state": release.state, "commit": release.commit.oid, "tag": release.tag_name,
        "url": {"web": f"{site_url()}/{release.repo.repo_id}/releases/{release.version}"},
    }


RELEASE_EVENT_ACTIONS = {"requested": "create"}  # the rest are updates of the release


def _head_sha(repo: ModelRepo) -> str | None:
    return Branch.objects.filter(repo_id=repo.pk, name="main").values_list("head__oid", flat=True).first()


def build_payload(event: dict[str, Any], repo: ModelRepo) -> dict[str, Any] | None:
    """The WebhookPayload v3 body of `event` (without its `webhook` part), or None when what it names is gone."""
    scope = str(event.get("scope", ""))
    action = str(event.get("action", "update"))
    payload: dict[str, Any] = {"event": {"action": action, "scope": scope}}
    name = event.get("moved_from") if scope == "repo" and action == "move" else None
    head = None
    if scope.startswith("repo"):
        head = event.get("head_sha") or (_head_sha(repo) if action != "delete" else None)
    payload["repo"] = _repo_part(repo, name=name, head_sha=head)
    if scope == "repo" and action == "move":
        owner = repo.owner_org_id if repo.owner_org_id is not None else repo.owner_user_id
        payload["movedTo"] = {"name": repo.repo_id, "owner": {"id": str(owner)}}
    if scope == "repo.content":
        payload["updatedRefs"] = list(event.get("updated_refs") or [])
    if scope == "repo.config":
        payload["updatedConfig"] = dict(event.get("updated_config") or {})
    if scope.startswith("discussion"):
        discussion = Discussion.objects.filter(pk=event.get("discussion_id"), repo_id=repo.pk).first()
        if discussion is None:
            gone = _deleted_discussion(repo, event)  # a deleted thread: what discussions.discussion_delete kept
            if gone is None:
                return None
            payload["discussion"] = gone
            return payload
        payload["discussion"] = _discussion_part(repo, discussion)
        if event.get("comment_id"):
            comment = DiscussionEvent.objects.filter(pk=event["comment_id"], discussion=discussion).first()
            if comment is not None:
                payload["comment"] = _comment_part(repo, discussion, comment)
    if scope == "release":
        release = Release.objects.filter(pk=event.get("release_id"), repo_id=repo.pk).select_related(
            "commit", "repo").first()
        if release is None:
            return None
        payload["event"]["action"] = RELEASE_EVENT_ACTIONS.get(action, "update")
        payload["release"] = _release_part(release, action)
    return payload


# --- matching --------------------------------------------------------------------------------------------------


def _domain_of(scope: str) -> str | None:
    if scope.startswith("repo") or scope == "release":
        return "repo"
    if scope.startswith("discussion"):
        return "discussion"
    return None


def _event_repo(event: dict[str, Any]) -> ModelRepo | None:
    repo = ModelRepo.objects.filter(pk=event.get("repo_id")).first()
    if repo is not None:
        return repo
    snapshot = event.get("repo_snapshot")  # a deleted repo: what it was
    if not isinstance(snapshot, dict):
        return None
    return ModelRepo(pk=event.get("repo_id"), namespace=snapshot["namespace"], name=snapshot["name"],
                     private=snapshot["private"], owner_user_id=snapshot.get("owner_user_id"),
                     owner_org_id=snapshot.get("owner_org_id"))


def _private_readers(repo: ModelRepo, hooks_: list[Webhook]) -> set[int]:
    """Which of the hooks' user owners may read the private `repo`, in one query (permissions.repo_readers)."""
    user_ids = {h.owner_user_id for h in hooks_ if h.owner_user_id is not None}
    if not user_ids:
        return set()
    return set(get_user_model().objects.filter(permissions.repo_readers(repo), pk__in=user_ids)
               .values_list("pk", flat=True))


def _owner_can_read(webhook: Webhook, repo: ModelRepo, readers: set[int]) -> bool:
    if not repo.private:
        return True
    if webhook.owner_org_id is not None:
        return repo.owner_org_id == webhook.owner_org_id
    return webhook.owner_user_id in readers


def matching_hooks(repo: ModelRepo, scope: str, *, also_names: tuple[str, ...] = ()) -> list[Webhook]:
    domain = _domain_of(scope)
    if domain is None:
        return []
    ids = {repo.repo_id.lower(), *(n.lower() for n in also_names)}
    namespaces = {i.split("/", 1)[0] for i in ids}
    watch = Q(type="model", name__in=ids) | Q(type__in=("user", "org"), name__in=namespaces)
    hook_ids = WebhookWatch.objects.filter(watch).values("webhook_id")
    hooks_ = [h for h in Webhook.objects.filter(pk__in=hook_ids, disabled=False)
              .order_by("pk") if domain in (h.domains or [])]
    readers = _private_readers(repo, hooks_) if repo.private and hooks_ else set()
    return [h for h in hooks_ if _owner_can_read(h, repo, readers)]


def webhooks_dispatch(event: dict[str, Any]) -> list[WebhookDelivery]:
    """Record one delivery (and its job) per matching hook, in one transaction."""
    repo = _event_repo(event)
    if repo is None:
        return []
    scope = str(event.get("scope", ""))
    also = (event["moved_from"],) if isinstance(event.get("moved_from"), str) else ()
    targets = matching_hooks(repo, scope, also_names=also)
    if not targets:
        return []
    payload = build_payload(event, repo)
    if payload is None:
        return []
    created = []
    with transaction.atomic():
        for hook in targets:
            body = {**payload, "webhook": {"id": hook.uid, "version": PAYLOAD_VERSION}}
            delivery = WebhookDelivery.objects.create(webhook=hook, scope=scope, action=payload["event"]["action"],
                                                      repo_name=payload["repo"]["name"], payload=body)
            job_enqueue(task=TASK, key=delivery.pk, send=_send)
            created.append(delivery)
    return created


@hooks.on_hub_event
def _on_hub_event(event: dict[str, Any]) -> None:
    try:
        webhooks_dispatch(event)
    except Exception:  # noqa: BLE001 - the change that made the event has committed; never fail its caller
        logger.exception("could not record webhook deliveries for %s", event)


# --- delivery --------------------------------------------------------------------------------------------------


def _resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (tests replace this: no real DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def safe_address(host: str, port: int) -> str:
    """The address to connect to: every address the host resolves to must be allowed, or none is used."""
    literal = _literal_ip(host)
    try:
        addresses = [literal] if literal else _resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"could not resolve {host}: {exc}") from exc
    if not addresses:
        raise UnsafeTarget(f"{host} has no address")
    if not allow_private():
        bad = [a for a in addresses if _forbidden_address(a)]
        if bad:
            raise UnsafeTarget(f"{host} resolves to a private, loopback or reserved address ({bad[0]})")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address, whatever the host name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = safe_address(host, port)
    cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    conn = cls(host, port, address, TIMEOUT_SECONDS)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()  # a redirect is an answer like any other: never followed
        return response.status, response.read(RESPONSE_EXCERPT_MAX)
    finally:
        conn.close()


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt. Raises WebhookRetry while attempts are left; records the outcome either way."""
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return delivery
    hook = delivery.webhook
    if hook.disabled and delivery.replay_of_id is None:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.FAILED,
                                                              error="the webhook is disabled")
        return delivery
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "X-Webhook-Event": f"{delivery.scope}.{delivery.action}", "X-Webhook-Delivery": str(delivery.pk)}
    if hook.secret:
        headers["X-Webhook-Secret"] = hook.secret
    started = time.monotonic()
    status: int | None = None
    excerpt = b""
    error = ""
    try:
        status, excerpt = _post(hook.url, body, headers)
        if not 200 <= status < 300:
            error = f"the receiver answered {status}"
    except UnsafeTarget as exc:
        error = str(exc)
    except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    latency = int((time.monotonic() - started) * 1000)
    delivery.attempts += 1
    delivery.response_status = status
    delivery.latency_ms = latency
    delivery.response_excerpt = excerpt.decode("utf-8", "replace")[:RESPONSE_EXCERPT_MAX]
    delivery.error = error[:500]
    if not error:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = timezone.now()
        with transaction.atomic():
            delivery.save()
            Webhook.objects.filter(pk=hook.pk).update(failure_streak=0)
        return delivery
    if delivery.attempts < MAX_ATTEMPTS:
        delivery.save()
        raise WebhookRetry(error, attempts=delivery.attempts)
    delivery.status = WebhookDelivery.Status.FAILED
    _record_failure(delivery, hook)
    return delivery


def _record_failure(delivery: WebhookDelivery, hook: Webhook) -> None:
    disabled_now = False
    with transaction.atomic():
        delivery.save()
        hook = Webhook.objects.select_for_update().get(pk=hook.pk)
        hook.failure_streak += 1
        if hook.failure_streak >= DISABLE_AFTER and not hook.disabled:
            hook.disabled = True
            hook.disabled_reason = f"disabled after {hook.failure_streak} failed deliveries in a row"
            disabled_now = True
            audit_record(actor=None, action="webhook.disable", target=hook, target_label=hook.uid,
                         metadata={"owner": hook.owner_label, "url": hook.url, "reason": hook.disabled_reason})
        hook.save(update_fields=["failure_streak", "disabled", "disabled_reason"])
    if disabled_now:
        hook_id = hook.pk
        transaction.on_commit(lambda: _email_disabled(hook_id))


def _owner_emails(hook: Webhook) -> list[str]:
    if hook.owner_user_id is not None:
        return [hook.owner_user.email] if hook.owner_user.email else []
    return list(Membership.objects.filter(organization_id=hook.owner_org_id, role=Membership.Role.ADMIN,
                                          user__is_active=True).exclude(user__email="")
                .values_list("user__email", flat=True))


def _email_disabled(hook_id: int) -> None:
    hook = Webhook.objects.select_related("owner_user", "owner_org").filter(pk=hook_id).first()
    if hook is None:
        return
    name = site_name(translated=False)
    page = (f"{site_url()}/organizations/{hook.owner_org.slug}/settings/webhooks/{hook.uid}"
            if hook.owner_org_id else f"{site_url()}/settings/webhooks/{hook.uid}")
    for email in _owner_emails(hook):
        try:
            send_mail(f"[{name}] webhook disabled: {hook.url}",
                      f"Your webhook to {hook.url} was disabled after {hook.failure_streak} failed deliveries in a "
                      f"row.\n\nSee its delivery log, fix the receiver and enable it again:\n{page}\n\n-- \n{name}\n"
                      f"{site_url()}\n", None, [email])
        except Exception:  # noqa: BLE001 - one bad address must not stop the others
            logger.exception("could not email %s about webhook %s", email, hook.uid)


def retry_countdown(attempts: int) -> int:
    """Seconds before the next attempt: 10, 30, 90, 270 …"""
    return int(10 * 3 ** max(attempts - 1, 0))


# --- the log's size --------------------------------------------------------------------------------------------

DELIVERIES_KEPT_DAYS = 30
PRUNE_BATCH = 5000


def webhook_deliveries_prune(*, keep_days: int = DELIVERIES_KEPT_DAYS, limit: int = PRUNE_BATCH) -> int:
    """Delete finished deliveries older than `keep_days` (hourly, registry.prune_webhook_deliveries). Reads the
    oldest `limit` rows by id (an index range, oldest first), never the whole log."""
    cutoff = timezone.now() - timedelta(days=keep_days)
    oldest = WebhookDelivery.objects.order_by("pk").values_list("pk", "created_at", "status")[:limit]
    old = [pk for pk, created, status in oldest if created < cutoff and status != WebhookDelivery.Status.PENDING]
    return WebhookDelivery.objects.filter(pk__in=old).delete()[0] if old else 0
