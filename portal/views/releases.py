"""Release pages: a model's releases, one release (checklist, sign-off, manifest), requesting one, the consortium
admins' queue, following a model, and Atom feeds of published releases."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from portal.markdown import render_markdown
from portal.views.common import client_ip, portal_view
from portal.views.models import _repo_context
from registry import permissions
from registry.exceptions import HubError, PermissionDenied, RevisionNotFound
from registry.models import ModelRepo, Release
from registry.selectors.portal import DEFAULT_BRANCH, revision_commit
from registry.selectors.releases import (
    pending_releases_for,
    published_releases,
    release_visible_get,
    releases_for_repo,
)
from registry.selectors.repos import repo_get
from registry.services import releases as release_services
from registry.services.follows import follow_set

ACTIONS = {
    "approve": (release_services.release_approve, gettext_lazy("Release approved.")),
    "reject": (release_services.release_reject, gettext_lazy("Release rejected.")),
    "withdraw": (release_services.release_withdraw, gettext_lazy("Release withdrawn; downloaders are being told.")),
    "waive-inference": (release_services.release_waive_inference, gettext_lazy("Inference check waived.")),
    "recheck": (release_services.release_rerun_checklist, gettext_lazy("Checklist re-run.")),
}


class ReleaseRequestForm(forms.Form):
    version = forms.CharField(label=gettext_lazy("Version"), max_length=64,
                              help_text=gettext_lazy("Semantic version, e.g. 1.0.0"))
    revision = forms.CharField(label=gettext_lazy("Revision"), max_length=255, initial=DEFAULT_BRANCH,
                               help_text=gettext_lazy("Branch, tag or commit id"))
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    notes = forms.CharField(label=gettext_lazy("Release notes (Markdown)"), required=False,
                            widget=forms.Textarea(attrs={"rows": 8}))


def _base_context(request: HttpRequest, repo: ModelRepo) -> dict[str, Any]:
    try:
        head = revision_commit(repo=repo, revision=DEFAULT_BRANCH)
    except RevisionNotFound:
        head = None
    context = _repo_context(request, repo, revision=DEFAULT_BRANCH, tab="releases", commit=head)
    context["can_request"] = permissions.can_write_repo(request.user, repo)
    context["can_review"] = permissions.can_review_releases(request.user, repo)
    return context


@portal_view
def release_list(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    context = _base_context(request, repo)
    context["releases"] = list(releases_for_repo(repo=repo, viewer=request.user, include_unpublished=True,
                                                 include_withdrawn=True))
    return render(request, "portal/release_list.html", context)


@portal_view
def release_detail(request: HttpRequest, namespace: str, name: str, version: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    release = release_visible_get(viewer=request.user, repo=repo, version=version)
    api = f"/api/v1/models/{repo.repo_id}/releases/{release.version}"
    context = _base_context(request, repo)
    context.update({
        "release": release,
        "notes_html": render_markdown(release.notes) if release.notes else "",
        "decisions": release.decisions.select_related("user", "organization").order_by("created_at", "id"),
        "manifest_url": f"{api}/manifest" if release.manifest else "",
        "signature_url": f"{api}/manifest.sig" if release.manifest else "",
        "open": release.state in (Release.State.DRAFT, Release.State.PENDING),
        "mirrors": release.mirrors.select_related("target").order_by("id"),
        "public_key_pem": _public_key_pem() if release.manifest else "",
        "can_recheck": request.user.is_authenticated and (
            release.requested_by_id == request.user.pk or permissions.is_consortium_admin(request.user)),
    })
    return render(request, "portal/release_detail.html", context)


def _public_key_pem() -> str:
    from registry import signing

    try:
        return signing.signing_public_key_pem().decode()
    except signing.SigningKeyMissing:
        return ""


@login_required
@require_http_methods(["GET", "POST"])
@portal_view
def release_new(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    if not permissions.can_write_repo(request.user, repo):
        raise PermissionDenied(_("You need write access to this model to request a release."))
    form = ReleaseRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            release = release_services.release_request(actor=request.user, repo=repo, ip=client_ip(request),
                                                       base_url=request.build_absolute_uri("/"), **form.cleaned_data)
        except HubError as exc:
            form.add_error(None, exc.message)
        else:
            if release.state == Release.State.DRAFT:
                messages.warning(request, _("Release requested, but blocked: see the unmet checklist items."))
            else:
                messages.success(request, _("Release requested: consortium admins will review it."))
            return redirect("release", namespace=repo.namespace, name=repo.name, version=release.version)
    context = _base_context(request, repo)
    context["form"] = form
    return render(request, "portal/release_new.html", context)


@login_required
@require_POST
@portal_view
def release_action(request: HttpRequest, namespace: str, name: str, version: str, action: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    release = release_visible_get(viewer=request.user, repo=repo, version=version)
    call, done = ACTIONS[action]
    extra = {"base_url": request.build_absolute_uri("/")} if action == "approve" else {}
    try:
        call(actor=request.user, release=release, reason=request.POST.get("reason", ""), ip=client_ip(request),
             **extra)
    except HubError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, str(done))
    target = request.POST.get("next", "")
    if target == "pending":
        return redirect("releases-pending")
    return redirect("release", namespace=repo.namespace, name=repo.name, version=release.version)


@login_required
@portal_view
def releases_pending(request: HttpRequest) -> HttpResponse:
    if not permissions.is_consortium_admin(request.user):
        raise PermissionDenied(_("Only consortium admins sign releases off."))
    return render(request, "portal/releases_pending.html", {"releases": pending_releases_for(request.user)})


@login_required
@require_POST
@portal_view
def model_follow(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    follow = request.POST.get("follow") == "1"
    follow_set(user=request.user, repo=repo, follow=follow)
    messages.success(request, _("You follow this model: new releases are emailed to you.") if follow
                     else _("You no longer follow this model."))
    return redirect("model", namespace=repo.namespace, name=repo.name)


# --- Atom feeds ------------------------------------------------------------------------------------------------


def _feed(request: HttpRequest, title: str, link: str, releases: list[Release]) -> HttpResponse:
    feed = Atom1Feed(title=title, link=request.build_absolute_uri(link),
                     description=_("Published releases"), language="en",
                     feed_url=request.build_absolute_uri())
    for release in releases:
        url = request.build_absolute_uri(
            reverse("release", kwargs={"namespace": release.repo.namespace, "name": release.repo.name,
                                       "version": release.version}))
        feed.add_item(title=f"{release.repo.repo_id} {release.version}: {release.title}", link=url,
                      description=release.notes, unique_id=url, pubdate=release.published_at,
                      updateddate=release.published_at)
    response = HttpResponse(content_type="application/atom+xml; charset=utf-8")
    feed.write(response, "utf-8")
    return response


def releases_feed(request: HttpRequest) -> HttpResponse:
    return _feed(request, _("Consortium Model Hub releases"), "/", published_releases(viewer=None, limit=50))


@portal_view
def repo_releases_feed(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    # Feeds are read by anonymous readers: a private repo has no feed, whoever asks.
    repo = repo_get(viewer=None, namespace=namespace, name=name)
    releases = list(releases_for_repo(repo=repo)[:50])
    return _feed(request, _("%(repo)s releases") % {"repo": repo.repo_id}, f"/{repo.repo_id}/releases", releases)
