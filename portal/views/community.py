"""The Community tab of a model page: discussions and pull requests (list, thread, new thread, comment, edit and
hide comments, rename, close/reopen, e-mail subscription). `/{ns}/{name}/discussions/{num}` is the URL the HF
client prints and webhooks link to.

Thin views over registry.services.discussions and registry.selectors.discussions; a PR's files, conflicts and
merge button come from registry.selectors.pulls.pr_page_context (templates/portal/community/_pull_request.html).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.markdown import render_comment
from portal.views.common import client_ip, portal_view
from portal.views.models import _repo_context
from registry import permissions
from registry.exceptions import Conflict, InvalidInput, PermissionDenied, RevisionNotFound
from registry.models import Discussion, DiscussionEvent, ModelRepo
from registry.selectors.discussions import (
    comment_get,
    discussion_events,
    discussion_get,
    discussion_page,
)
from registry.selectors.portal import DEFAULT_BRANCH, revision_commit
from registry.selectors.pulls import pr_page_context
from registry.selectors.repos import repo_get
from registry.services import discussion_mail
from registry.services import discussions as services

PAGE_SIZE = 25
KINDS = ("all", "discussion", "pull_request")
STATUSES = ("open", "closed", "all")
# What a refused action shows as a message, instead of an error page.
SHOWN_ERRORS = (InvalidInput, Conflict, PermissionDenied)


def _context(request: HttpRequest, repo: ModelRepo) -> dict[str, Any]:
    try:
        head = revision_commit(repo=repo, revision=DEFAULT_BRANCH)
    except RevisionNotFound:
        head = None
    context = _repo_context(request, repo, revision=DEFAULT_BRANCH, tab="community", commit=head)
    context["community_base"] = f"{context['repo_base']}/discussions"
    return context


def _choice(request: HttpRequest, key: str, choices: tuple[str, ...]) -> str:
    value = request.GET.get(key, choices[0])
    return value if value in choices else choices[0]


@require_GET
@portal_view
def discussion_list(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    kind, status = _choice(request, "type", KINDS), _choice(request, "status", STATUSES)
    raw_page = request.GET.get("p", "0")
    page_index = int(raw_page) if raw_page.isdigit() and len(raw_page) < 6 else 0
    page = discussion_page(repo=repo, page=page_index, kind=kind, status=status, page_size=PAGE_SIZE)
    context = _context(request, repo)
    context.update({
        "page": page, "discussions": page.items, "kind": kind, "status": status,
        "kinds": [("all", _("All")), ("discussion", _("Discussions")), ("pull_request", _("Pull requests"))],
        "statuses": [("open", _("Open")), ("closed", _("Closed")), ("all", _("All"))],
        "previous_page": page_index - 1 if page_index > 0 else None,
        "next_page": page_index + 1 if page.has_next else None,
    })
    return render(request, "portal/community/list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@portal_view
def discussion_new(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    context = _context(request, repo)
    title, description = "", ""
    if request.method == "POST":
        title, description = request.POST.get("title", ""), request.POST.get("description", "")
        try:
            discussion = services.discussion_create(actor=request.user, repo=repo, title=title,
                                                    description=description, ip=client_ip(request))
        except SHOWN_ERRORS as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Discussion opened."))
            return redirect(f"{context['community_base']}/{discussion.num}")
    context.update({"form_title": title, "form_description": description})
    return render(request, "portal/community/new.html", context)


def _event_rows(request: HttpRequest, discussion: Discussion, is_writer: bool) -> list[dict[str, Any]]:
    user_id = request.user.pk if request.user.is_authenticated else None
    rows = []
    for event in discussion_events(discussion=discussion):
        row: dict[str, Any] = {"event": event, "deleted_author": event.author_id is None}
        if event.type == DiscussionEvent.Type.COMMENT:
            row["html"] = "" if event.hidden else render_comment(event.content)
            row["can_moderate"] = (not event.hidden and user_id is not None
                                   and (is_writer or event.author_id == user_id))
        rows.append(row)
    return rows


@require_GET
@portal_view
def discussion_detail(request: HttpRequest, namespace: str, name: str, num: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    discussion = discussion_get(repo=repo, num=num)
    signed_in = request.user.is_authenticated
    is_writer = signed_in and permissions.can_moderate_community(request.user, repo)
    context = _context(request, repo)
    context.update({
        "discussion": discussion,
        "rows": _event_rows(request, discussion, is_writer),
        "can_moderate_thread": signed_in and (is_writer or discussion.author_id == request.user.pk),
        "can_comment": signed_in and (not discussion.locked or is_writer),
        "muted": discussion_mail.is_muted(user=request.user, discussion=discussion),
        "is_open": discussion.status in (Discussion.Status.OPEN, Discussion.Status.DRAFT),
    })
    if discussion.is_pull_request:
        context.update(pr_page_context(discussion, viewer=request.user))
    return render(request, "portal/community/thread.html", context)


@login_required
@require_POST
@portal_view
def discussion_action(request: HttpRequest, namespace: str, name: str, num: str, action: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    discussion = discussion_get(repo=repo, num=num)
    url = f"/{repo.repo_id}/discussions/{discussion.num}"
    post, ip = request.POST, client_ip(request)
    try:
        if action == "comment":
            event = services.comment_add(actor=request.user, discussion=discussion, text=post.get("comment", ""),
                                         ip=ip)
            return redirect(f"{url}#c-{event.eid}")
        if action == "title":
            services.title_change(actor=request.user, discussion=discussion, title=post.get("title", ""), ip=ip)
            messages.success(request, _("Discussion renamed."))
        elif action == "status":
            new_status = post.get("status", "")
            services.status_change(actor=request.user, discussion=discussion, status=new_status,
                                   comment=post.get("comment", ""), ip=ip)
            messages.success(request, _("Discussion closed.") if new_status == "closed"
                             else _("Discussion reopened."))
        elif action == "subscription":
            muted = discussion_mail.thread_mute_set(user=request.user, discussion=discussion,
                                                    muted=post.get("muted") == "1")
            messages.success(request, _("You will get no more e-mail about this discussion.") if muted
                             else _("You will get e-mail about this discussion again."))
    except SHOWN_ERRORS as exc:
        messages.error(request, exc.message)
    return redirect(url)


@login_required
@require_POST
@portal_view
def comment_action(request: HttpRequest, namespace: str, name: str, num: str, eid: str,
                   action: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    discussion = discussion_get(repo=repo, num=num)
    event = comment_get(discussion=discussion, comment_id=eid)
    url = f"/{repo.repo_id}/discussions/{discussion.num}"
    try:
        if action == "edit":
            services.comment_edit(actor=request.user, event=event, text=request.POST.get("content", ""),
                                  ip=client_ip(request))
            messages.success(request, _("Comment edited."))
        else:
            services.comment_hide(actor=request.user, event=event, ip=client_ip(request))
            messages.success(request, _("Comment hidden."))
    except SHOWN_ERRORS as exc:
        messages.error(request, exc.message)
    return redirect(f"{url}#c-{event.eid}")


@require_http_methods(["GET", "POST"])
@portal_view
def discussion_unsubscribe(request: HttpRequest, namespace: str, name: str, num: str) -> HttpResponse:
    """The link in every notification: a signed token names the user and the thread, so no sign-in is needed (the
    token is the proof the holder was mailed about the thread; without a valid one, a private repo is a 404 as
    everywhere). GET asks, POST unsubscribes (mail scanners follow links; they don't submit forms)."""
    token = request.POST.get("token") or request.GET.get("token", "")
    try:
        user_id, discussion_id = discussion_mail.unsubscribe_read(token)
    except InvalidInput:
        user_id, discussion_id = None, None
    discussion = (Discussion.objects.select_related("repo", "author").filter(pk=discussion_id).first()
                  if discussion_id else None)
    if (discussion is None or str(discussion.num) != num
            or discussion.repo.repo_id.lower() != f"{namespace}/{name}".lower()):
        repo_get(viewer=request.user, namespace=namespace, name=name)  # 404 for what the viewer can't see
        return render(request, "portal/community/unsubscribe.html", {"invalid": True}, status=400)
    done = False
    if request.method == "POST":
        user = get_user_model().objects.filter(pk=user_id).first()
        if user is not None:
            discussion_mail.thread_mute_set(user=user, discussion=discussion, muted=True)
        done = True
    return render(request, "portal/community/unsubscribe.html",
                  {"discussion": discussion, "repo": discussion.repo, "token": token, "done": done})
