"""Pages for a model's writers and admins: settings, deletion, per-licensee downloads, a new repo, editing the
model card and uploading small files. Every change goes through one registry service; each edit is a commit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from portal.forms import (
    CardEditForm,
    RepoCreateForm,
    RepoDeleteForm,
    RepoSettingsForm,
    UploadForm,
    gating_fields_to_text,
)
from portal.views.common import client_ip, portal_view, quote_rev
from portal.views.models import _repo_context
from registry import permissions
from registry.exceptions import Conflict, InvalidInput, RevisionNotFound, StaleParent, TooLarge
from registry.models import Branch, ModelRepo
from registry.selectors.licenses import license_disagreement
from registry.selectors.portal import (
    repo_for_admin,
    repo_for_writer,
    repo_readme,
    revision_commit,
    revision_split,
    user_downloads_page,
    writable_namespaces,
)
from registry.services.repos import repo_create, repo_delete, repo_update_settings
from registry.services.web_edits import UploadedFile, card_save, commit_upload_files

MAX_UPLOAD_FILES = 20
DOWNLOADS_PER_PAGE = 50


def _base(repo: ModelRepo) -> str:
    return reverse("model", kwargs={"namespace": repo.namespace, "name": repo.name})


# --- settings ---------------------------------------------------------------------------------------------


def _settings_page(request: HttpRequest, repo: ModelRepo, form: RepoSettingsForm, delete_form: RepoDeleteForm,
                   status: int = 200) -> HttpResponse:
    context = _repo_context(request, repo, revision="main", tab="settings", commit=None,
                            validation_status=None, inference_status=None)
    context.update({"form": form, "delete_form": delete_form,
                    "can_admin": permissions.can_admin_repo(request.user, repo),
                    "license_disagreement": license_disagreement(repo)})
    return render(request, "portal/repo_settings.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@portal_view
def repo_settings(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    repo = repo_for_writer(viewer=request.user, namespace=namespace, name=name)
    initial = {"private": repo.private, "gating": repo.gating,
               "license": repo.license.slug if repo.license_id else None,
               "gating_fields": gating_fields_to_text(repo.gating_fields)}
    form = RepoSettingsForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            repo_update_settings(actor=request.user, repo=repo, private=data["private"], gating=data["gating"],
                                 license=data["license"], gating_fields=data["gating_fields"],
                                 ip=client_ip(request))
        except InvalidInput as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Settings saved."))
            return redirect("repo-settings", namespace=repo.namespace, name=repo.name)
    return _settings_page(request, repo, form, RepoDeleteForm(repo_id=repo.repo_id),
                          status=400 if form.errors else 200)


@login_required
@require_POST
@portal_view
def repo_delete_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    repo = repo_for_admin(viewer=request.user, namespace=namespace, name=name)
    form = RepoDeleteForm(request.POST, repo_id=repo.repo_id)
    if not form.is_valid():
        messages.error(request, _("The model was not deleted: the name you typed does not match."))
        return _settings_page(request, repo, RepoSettingsForm(initial={
            "private": repo.private, "gating": repo.gating,
            "license": repo.license.slug if repo.license_id else None,
            "gating_fields": gating_fields_to_text(repo.gating_fields)}), form, status=400)
    repo_id = repo.repo_id
    repo_delete(actor=request.user, repo=repo, ip=client_ip(request))
    messages.success(request, _("%(repo)s was deleted.") % {"repo": repo_id})
    return redirect("org", slug=namespace)


@login_required
@portal_view
def repo_downloads(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    """Who downloaded what, per user and commit, with their license acceptance: for the owner's admins."""
    repo = repo_for_admin(viewer=request.user, namespace=namespace, name=name)
    page, acceptances = (user_downloads_page(repo=repo, page_number=request.GET.get("page"),
                                             per_page=DOWNLOADS_PER_PAGE)
                         if repo.is_gated else (None, {}))
    rows = [(row, acceptances.get(row.user_id)) for row in page.object_list] if page else []
    context = _repo_context(request, repo, revision="main", tab="settings", commit=None,
                            validation_status=None, inference_status=None)
    context.update({"page": page, "rows": rows})
    return render(request, "portal/repo_downloads.html", context)


# --- a new repo -----------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@portal_view
def repo_new(request: HttpRequest) -> HttpResponse:
    namespaces = writable_namespaces(user=request.user)
    form = RepoCreateForm(request.POST if request.method == "POST" else None, namespaces=namespaces,
                          initial={"namespace": request.GET.get("namespace") or namespaces[0]})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            repo = repo_create(actor=request.user, namespace=data["namespace"], name=data["name"].strip(),
                               private=data["private"], license=data["license"], ip=client_ip(request))
        except Conflict:
            form.add_error("name", _("A model with this name already exists in %(ns)s.") % {"ns": data["namespace"]})
        except InvalidInput as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, _("Model %(repo)s created. Write its model card next.") % {
                "repo": repo.repo_id})
            return redirect(f"{_base(repo)}/edit/main/README.md")
    return render(request, "portal/repo_new.html", {"form": form}, status=400 if form.errors else 200)


# --- editing the model card -------------------------------------------------------------------------------


def _branch_of(repo: ModelRepo, rest: str) -> tuple[str, str]:
    revision, path = revision_split(repo=repo, rest=rest)
    if not Branch.objects.filter(repo=repo, name=revision).exists():
        raise RevisionNotFound(_("%(revision)s is not a branch of %(repo)s; edits are committed to a branch") % {
            "revision": revision, "repo": repo.repo_id})
    return revision, path


CARD_TEMPLATE = """---
license: other
language:
- ko
- en
pipeline_tag: text-generation
tags: []
---
# {name}

What this model is, how it was trained, and how to use it.
"""


@login_required
@require_http_methods(["GET", "POST"])
@portal_view
def card_edit(request: HttpRequest, namespace: str, name: str, rest: str) -> HttpResponse:
    repo = repo_for_writer(viewer=request.user, namespace=namespace, name=name)
    branch, path = _branch_of(repo, rest)
    if path != "README.md":
        raise RevisionNotFound(_("only the model card (README.md) can be edited in the browser"))
    head = revision_commit(repo=repo, revision=branch)
    current = repo_readme(repo=repo, commit=head)
    stale = False
    if request.method == "POST":
        form = CardEditForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                card_save(actor=request.user, repo=repo, content=data["content"], branch=branch,
                          parent_oid=data["parent"] or None, title=data["summary"] or "Update README.md",
                          message=data["description"], ip=client_ip(request))
            except StaleParent:
                stale = True
                form.add_error(None, _("Someone else committed to %(branch)s since you opened this page, so "
                                       "your text was not saved. Copy your changes, reload the page and apply "
                                       "them to the new version.") % {"branch": branch})
            except (InvalidInput, TooLarge) as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Model card saved."))
                return redirect(_base(repo) if branch == "main" else
                                f"{_base(repo)}/blob/{quote_rev(branch)}/README.md")
    else:
        form = CardEditForm(initial={"content": current or CARD_TEMPLATE.format(name=repo.name),
                                     "parent": head.oid, "summary": ""})
    context = _repo_context(request, repo, revision=branch, tab="card", commit=head)
    context.update({"form": form, "path": path, "is_new": not current})
    return render(request, "portal/card_edit.html", context, status=409 if stale else 400 if form.errors else 200)


# --- uploading small files ---------------------------------------------------------------------------------


class LimitedUploadHandler(FileUploadHandler):
    """First in the chain: skips (never stores) any file past the portal's size limit and remembers its name."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.too_large: list[str] = []
        self._received = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self._received += len(raw_data)
        if self._received > self.limit:
            self.too_large.append(self.file_name)
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


@csrf_exempt  # the size-limiting handler must be installed before the body is read; CSRF is checked below
@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest, namespace: str, name: str, rest: str) -> HttpResponse:
    limit = settings.PORTAL_UPLOAD_MAX_BYTES
    handler = LimitedUploadHandler(request, limit)
    request.upload_handlers.insert(0, handler)
    return _upload(request, namespace=namespace, name=name, rest=rest, handler=handler)


@csrf_protect
@portal_view
def _upload(request: HttpRequest, *, namespace: str, name: str, rest: str,
            handler: LimitedUploadHandler) -> HttpResponse:
    repo = repo_for_writer(viewer=request.user, namespace=namespace, name=name)
    branch, _path = _branch_of(repo, rest)
    head = revision_commit(repo=repo, revision=branch)
    limit = settings.PORTAL_UPLOAD_MAX_BYTES
    form = UploadForm()
    status = 200
    if request.method == "POST":
        too_big = int(request.META.get("CONTENT_LENGTH") or 0) > limit * MAX_UPLOAD_FILES + 1024 * 1024
        form = UploadForm(request.POST, {} if too_big else request.FILES)
        if too_big or handler.too_large:
            names = ", ".join(handler.too_large) or _("the files")
            form.add_error(None, _("%(names)s: larger than %(limit)s, the most the browser upload takes. Upload "
                                   "large files with the hf CLI: hf upload %(repo)s <local folder>") % {
                "names": names, "limit": _human(limit), "repo": repo.repo_id})
        elif form.is_valid():
            files = request.FILES.getlist("files")
            if len(files) > MAX_UPLOAD_FILES:
                form.add_error("files", _("Upload at most %(n)s files at once.") % {"n": MAX_UPLOAD_FILES})
            else:
                folder = form.cleaned_data["folder"].strip().strip("/")
                try:
                    commit = commit_upload_files(
                        actor=request.user, repo=repo, branch=branch, parent_oid=request.POST.get("parent") or None,
                        files=[UploadedFile(f"{folder}/{f.name}" if folder else f.name, f.size, f) for f in files],
                        title=form.cleaned_data["summary"], message=form.cleaned_data["description"],
                        ip=client_ip(request))
                except StaleParent:
                    form.add_error(None, _("Someone else committed to %(branch)s since you opened this page. "
                                           "Reload it and upload again.") % {"branch": branch})
                except (InvalidInput, TooLarge) as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, _("Committed %(n)s file(s) as %(oid)s.") % {
                        "n": len(files), "oid": commit.oid[:8]})
                    return redirect(f"{_base(repo)}/tree/{quote_rev(branch)}")
        status = 413 if (too_big or handler.too_large) else 400 if form.errors else 200
    context = _repo_context(request, repo, revision=branch, tab="files", commit=head)
    context.update({"form": form, "limit": limit, "limit_human": _human(limit), "parent": head.oid})
    return render(request, "portal/upload.html", context, status=status)


def _human(size: int) -> str:
    from django.template.defaultfilters import filesizeformat

    return str(filesizeformat(size))
