"""The portal's pull request merge (the thread page with its PR view is portal/views/discussions; the PR part of it
is templates/portal/community/_pull_request.html, fed by registry.selectors.pulls.pr_page_context)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.views.common import client_ip, portal_view
from registry.exceptions import HubError
from registry.selectors.discussions import discussion_get
from registry.selectors.repos import repo_get
from registry.services.pulls import pr_merge


@login_required
@require_POST
@portal_view
def pr_merge_view(request: HttpRequest, namespace: str, name: str, num: str) -> HttpResponse:
    """Merge a pull request (repo writers): back to its thread, with what happened or why it was refused."""
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    discussion = discussion_get(repo=repo, num=num)
    try:
        merged = pr_merge(actor=request.user, discussion=discussion, comment=request.POST.get("comment", ""),
                          ip=client_ip(request))
    except HubError as exc:
        if exc.status in (401, 403, 404) or exc.status >= 500:
            raise  # portal_view: sign in, 403, 404 pages
        messages.error(request, exc.message)  # conflicts, failed files, drafts, a moving branch: said on the thread
    else:
        messages.success(request, _("Pull request #%(num)d is merged into %(branch)s (commit %(commit)s).")
                         % {"num": discussion.num, "branch": discussion.target_branch, "commit": merged.oid[:7]})
    return HttpResponseRedirect(f"/{repo.namespace}/{repo.name}/discussions/{discussion.num}")
