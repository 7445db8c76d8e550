"""Model pages: search, card, files, file, history, validation checks, license acceptance."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote, urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from portal.download_chart import download_chart
from portal.forms import LicenseAcceptForm, ModelSearchForm
from portal.inference_chart import speed_chart
from portal.markdown import render_card, render_markdown
from portal.views.common import client_ip, portal_view, quote_rev
from registry import permissions
from registry.exceptions import InvalidInput, RevisionNotFound
from registry.lineage import ADAPTER, FINETUNE, MERGE, QUANTIZED, parse_base_model_filter
from registry.models import Commit, ModelRepo
from registry.names import lookup_ok
from registry.selectors.catalogue import FacetOption, catalogue_facets, namespace_suggestions, repo_page
from registry.selectors.discussions import open_count
from registry.selectors.history import history_page
from registry.selectors.inference import commit_inference_status, inference_latest_for_commit, inference_speed_history
from registry.selectors.likes import like_state
from registry.selectors.lineage import model_tree as lineage_tree
from registry.selectors.portal import (
    DEFAULT_BRANCH,
    AccessStatus,
    access_status,
    breadcrumbs,
    download_days,
    first_weight_file,
    repo_default_head,
    repo_readme,
    repo_refs_for_page,
    revision_commit,
    revision_split,
    tree_file,
    tree_listing,
)
from registry.selectors.releases import follow_state, withdrawn_release_for_commit
from registry.selectors.repos import repo_get
from registry.selectors.tensors import content_tensor_stats, tensor_page
from registry.selectors.validation import commit_validation_status, file_quarantine, validation_for_commit
from registry.services.licenses import license_accept

PAGE_SIZE = 24
HISTORY_PAGE_SIZE = 50
_UNSET: Any = object()
TEXT_PREVIEW_MAX = 512 * 1024


FACET_OPTIONS = 40  # per filter list (the organisation field suggests more as one types); any value can be typed


@portal_view
def model_list(request: HttpRequest) -> HttpResponse:
    form = ModelSearchForm(request.GET or None)
    values = form.filters()
    query = form.query()
    try:
        page = repo_page(viewer=request.user, query=query, cursor=request.GET.get("cursor"), size=PAGE_SIZE)
    except InvalidInput:  # a stale or mangled cursor: the first page rather than an error
        page = repo_page(viewer=request.user, query=query, size=PAGE_SIZE)
    facets = catalogue_facets(limit=FACET_OPTIONS, kinds=("namespaces", "tasks", "licenses", "languages", "tags"))
    options = {field: _with_selected(getattr(facets, kind), values[field]) for field, kind in (
        ("pipeline_tag", "tasks"), ("license", "licenses"), ("language", "languages"), ("tag", "tags"))}
    others = form.other_filters()
    unfiltered = not others and not any(values[name] for name in ("q", "organization", "pipeline_tag", "license",
                                                                  "language", "tag", "gated"))
    return render(request, "portal/model_list.html", {
        "form": form, "filters": values, "page": page, "facets": facets, "options": options,
        "public_total": facets.total if unfiltered else None,
        "others": [_other_chip(request, value, others) for value in others],
    })


def _other_chip(request: HttpRequest, value: str, others: list[str]) -> dict[str, str]:
    """An applied `other=` filter: how the page words it, and the link that removes it."""
    query = request.GET.copy()
    query.setlist("other", [v for v in others if v != value])
    query.pop("filter", None)
    query.pop("cursor", None)
    lineage = parse_base_model_filter(value)
    if lineage is None:
        label = value
    elif lineage[0] is None:
        label = _("Models derived from %(model)s") % {"model": lineage[1]}
    else:
        label = CHILDREN_HEADINGS[lineage[0]] % {"model": lineage[1]}
    return {"value": value, "label": label, "remove": f"?{query.urlencode()}"}


def _with_selected(options: list[FacetOption], value: str) -> list[FacetOption]:
    """The filter's options, with the chosen value kept (counted or not) so the list shows what is applied."""
    if value and all(option.value != value for option in options):
        return [*options, FacetOption(value, 0)]
    return options


@require_GET
def namespace_suggest(request: HttpRequest) -> HttpResponse:
    """The organisation filter's autocomplete (static/js/hub.js): namespaces with public models matching `q`."""
    found = namespace_suggestions(text=request.GET.get("q", ""))
    return JsonResponse({"results": [{"value": option.value, "count": option.count} for option in found]})


def _repo_base(repo: ModelRepo) -> str:
    return reverse("model", kwargs={"namespace": repo.namespace, "name": repo.name})


def _snippets(request: HttpRequest, repo: ModelRepo, filename: str) -> dict[str, str]:
    """"Use this model": the same files through transformers, huggingface_hub, the hf CLI, git and curl."""
    endpoint = request.build_absolute_uri("/").rstrip("/")
    repo_id = repo.repo_id
    resolve = f"{endpoint}{_repo_base(repo)}/resolve/main/{quote(filename)}"
    token_line = '\nos.environ["HF_TOKEN"] = "hub_…"  # ' + _("an API key from Settings → Access tokens") \
        if repo.is_gated or repo.private else ""
    return {
        "transformers": (
            "import os\n"
            f'os.environ["HF_ENDPOINT"] = "{endpoint}"{token_line}\n\n'
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")\n'
            f'model = AutoModelForCausalLM.from_pretrained("{repo_id}")\n'
        ),
        "huggingface_hub": (
            "from huggingface_hub import snapshot_download\n\n"
            f'path = snapshot_download(repo_id="{repo_id}", endpoint="{endpoint}"'
            + (', token="hub_…"' if token_line else "") + ")\n"
        ),
        "cli": (
            f"export HF_ENDPOINT={endpoint}\n"
            + ("export HF_TOKEN=hub_…\n" if token_line else "")
            + f"hf download {repo_id}\n"
        ),
        "git": (
            "git lfs install\n"
            + (("# " + _("git asks for a password: give an API key from Settings → Access tokens") + "\n")
               if token_line else "")
            + f"git clone {endpoint}{_repo_base(repo)}\n"
        ),
        "curl": (
            f'curl -L -H "Authorization: Bearer $HUB_API_KEY" \\\n  "{resolve}" \\\n'
            f"  -o {quote(filename.rsplit('/', 1)[-1])}\n"
        ),
    }


def _repo_context(request: HttpRequest, repo: ModelRepo, *, revision: str, tab: str,
                  commit: Commit | None, access: AccessStatus | None = None,
                  validation_status: str | None = _UNSET, inference_status: str | None = _UNSET) -> dict[str, Any]:
    branches, tags = repo_refs_for_page(repo=repo)
    if validation_status is _UNSET:
        validation_status = commit_validation_status(commit=commit)
    if inference_status is _UNSET:
        inference_status = commit_inference_status(commit=commit)
    return {
        "repo": repo,
        "repo_base": _repo_base(repo),
        "revision": revision,
        "qrev": quote_rev(revision),
        "commit": commit,
        "tab": tab,
        "branches": branches,
        "ref_tags": tags,
        "access": access if access is not None else access_status(viewer=request.user, repo=repo),
        "validation_status": validation_status,
        "inference_status": inference_status,
        "license_html": render_markdown(repo.license.text) if repo.license_id else "",
        # Writers see the Settings tab (no query for anonymous viewers).
        "can_write": request.user.is_authenticated and permissions.can_write_repo(request.user, repo),
        "follow_count": None,
        "liked": like_state(user=request.user, repo=repo),
        "community_open": open_count(repo=repo),
        # Files of a withdrawn release's commit carry a warning (one query, on the file pages only).
        "withdrawn_release": (withdrawn_release_for_commit(repo=repo, commit_id=commit.pk)
                              if tab == "files" and commit is not None else None),
    }


# How a model page words a relation: "<phrase> <base models>", and the heading of a list of children.
RELATION_PHRASES = {FINETUNE: gettext_lazy("Fine-tuned from"), ADAPTER: gettext_lazy("Adapter of"),
                    QUANTIZED: gettext_lazy("Quantized from"), MERGE: gettext_lazy("Merge of")}
CHILDREN_LABELS = {FINETUNE: gettext_lazy("Fine-tunes"), ADAPTER: gettext_lazy("Adapters"),
                   QUANTIZED: gettext_lazy("Quantizations"), MERGE: gettext_lazy("Merges")}
CHILDREN_HEADINGS = {FINETUNE: gettext_lazy("Fine-tunes of %(model)s"), ADAPTER: gettext_lazy("Adapters of %(model)s"),
                     QUANTIZED: gettext_lazy("Quantizations of %(model)s"),
                     MERGE: gettext_lazy("Merges using %(model)s")}


def _lineage_context(request: HttpRequest, repo: ModelRepo) -> dict[str, Any]:
    """The model tree: this model's bases (linked when the viewer may see them here) and its children per relation,
    each with the list that shows them (`/models?other=base_model:<relation>:<id>`)."""
    tree = lineage_tree(viewer=request.user, repo=repo)
    models_url = reverse("models")
    return {
        "lineage": tree,
        "lineage_phrase": RELATION_PHRASES.get(tree.relation or "", ""),
        "lineage_bases": [{"id": base, "url": _repo_base(found) if found is not None else None}
                          for base, found in tree.bases],
        "lineage_children": [
            {"relation": relation, "label": CHILDREN_LABELS[relation], "count": count,
             "url": f"{models_url}?{urlencode({'other': f'base_model:{relation}:{repo.repo_id}'})}"}
            for relation, count in tree.children],
        "lineage_all_url": f"{models_url}?{urlencode({'other': f'base_model:{repo.repo_id}'})}",
    }


@portal_view
def model_detail(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    head = repo_default_head(repo=repo)
    base = _repo_base(repo)
    readme = repo_readme(repo=repo, commit=head)
    context = _repo_context(request, repo, revision=DEFAULT_BRANCH, tab="card", commit=head)
    context.update(_lineage_context(request, repo))
    context["following"], context["follow_count"] = follow_state(user=request.user, repo=repo)
    context["download_chart"] = download_chart(download_days(repo=repo))
    context.update({
        "card_html": render_card(readme, repo_base=base, revision=DEFAULT_BRANCH) if readme else "",
        "snippets": _snippets(request, repo, first_weight_file(commit=head)),
    })
    return render(request, "portal/model_card.html", context)


def _resolve(repo: ModelRepo, rest: str) -> tuple[str, str, Commit]:
    revision, path = revision_split(repo=repo, rest=rest)
    return revision, path, revision_commit(repo=repo, revision=revision)


@portal_view
def model_tree(request: HttpRequest, namespace: str, name: str, rest: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    revision, path, commit = _resolve(repo, rest)
    listing = tree_listing(commit=commit, path=path, after=_page_key(request.GET.get("after")))
    context = _repo_context(request, repo, revision=revision, tab="files", commit=commit)
    context.update({"path": path, "crumbs": breadcrumbs(path), "entries": listing.entries,
                    "total_size": listing.folder.size, "paged": "after" in request.GET,
                    "next_after": ":".join(listing.next_cursor) if listing.next_cursor else None})
    return render(request, "portal/model_tree.html", context)


def _page_key(value: str | None) -> tuple[str, str] | None:
    """`after=d:<path>` / `f:<path>` (the files page's keyset cursor); anything else is the first page."""
    kind, sep, path = (value or "").partition(":")
    return (kind, path) if sep and kind in ("d", "f") and lookup_ok(path) else None


@portal_view
def model_blob(request: HttpRequest, namespace: str, name: str, rest: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    revision, path, commit = _resolve(repo, rest)
    if not path:
        return redirect(f"{_repo_base(repo)}/tree/{quote_rev(revision)}")
    entry = tree_file(commit=commit, path=path)
    access = access_status(viewer=request.user, repo=repo)
    text = None
    locked = not access.can_download and path != "README.md"
    if entry.content is not None and entry.size <= TEXT_PREVIEW_MAX and not locked:
        try:
            text = bytes(entry.content).decode("utf-8")
        except UnicodeDecodeError:
            text = None
    context = _repo_context(request, repo, revision=revision, tab="files", commit=commit, access=access)
    context.update({"path": path, "crumbs": breadcrumbs(path), "entry": entry, "text": text,
                    "locked": locked, "quarantine": file_quarantine(commit_file=entry),
                    "has_tensors": path.endswith((".safetensors", ".gguf"))})
    return render(request, "portal/model_blob.html", context)


TENSOR_PAGE_SIZE = 100


@portal_view
def model_tensors(request: HttpRequest, namespace: str, name: str, rest: str) -> HttpResponse:
    """The tensor table of a safetensors or GGUF file (name, shape, dtype, size), a keyset page at a time, read from
    the rows validation stored when it read the header. Shown to whoever may download the file: a gated model's
    tables wait for the accepted license, as the header bytes themselves would (HEAD + Range on /resolve)."""
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    revision, path, commit = _resolve(repo, rest)
    entry = tree_file(commit=commit, path=path)
    access = access_status(viewer=request.user, repo=repo)
    after = request.GET.get("after", "")
    after_ordinal = int(after) if after.isdigit() and len(after) < 10 else -1
    rows, following, stats = [], None, None
    if access.can_download:
        sha = entry.blob.sha256 if entry.blob_id else hashlib.sha256(bytes(entry.content or b"")).hexdigest()
        rows, following = tensor_page(sha256=sha, after=after_ordinal, size=TENSOR_PAGE_SIZE)
        stats = content_tensor_stats(sha256=sha)
    context = _repo_context(request, repo, revision=revision, tab="files", commit=commit, access=access)
    context.update({"path": path, "crumbs": breadcrumbs(path), "entry": entry, "tensors": rows,
                    "locked": not access.can_download, "next_after": following, "paged": after_ordinal >= 0,
                    "stats": stats, "first_number": after_ordinal + 2})
    return render(request, "portal/model_tensors.html", context)


@portal_view
def model_commits(request: HttpRequest, namespace: str, name: str, rest: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    revision = rest.strip("/")
    commit = revision_commit(repo=repo, revision=revision)
    start = request.GET.get("after") or ""
    history, following = history_page(repo=repo, start=start if lookup_ok(start) and start else commit.oid,
                                      limit=HISTORY_PAGE_SIZE)
    context = _repo_context(request, repo, revision=revision, tab="commits", commit=commit)
    context.update({"history": history, "paged": bool(start), "next_after": following})
    return render(request, "portal/model_commits.html", context)


@portal_view
def model_checks(request: HttpRequest, namespace: str, name: str, rest: str = "") -> HttpResponse:
    """The validation run of the revision's commit (progress, repo-level checks, each file's checks), and its
    newest inference check with the repo's tokens/s across revisions."""
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    revision = rest.strip("/") or DEFAULT_BRANCH
    commit = revision_commit(repo=repo, revision=revision)
    validation = validation_for_commit(repo=repo, commit=commit, revision=revision)
    run = validation.run if validation else None
    inference = inference_latest_for_commit(repo=repo, commit=commit)
    context = _repo_context(request, repo, revision=revision, tab="checks", commit=commit,
                            validation_status=run.status if run else None,
                            inference_status=inference.status if inference else None)
    context.update({
        "validation": validation,
        "run": run,
        "repo_checks": (run.summary or {}).get("checks", []) if run else [],
        "percent": (100 * run.bytes_checked // run.bytes_total if run.bytes_total else 100) if run else 0,
        "inference": inference,
        "speed_chart": speed_chart(inference_speed_history(repo=repo)),
    })
    return render(request, "portal/model_checks.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@portal_view
def model_accept(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    base = _repo_base(repo)
    if not repo.is_gated:
        messages.info(request, _("This model is open: no license acceptance is needed."))
        return redirect(base)
    access = access_status(viewer=request.user, repo=repo)
    form = LicenseAcceptForm(request.POST if request.method == "POST" else None, questions=repo.gating_fields)
    if request.method == "POST" and form.is_valid():
        try:
            acceptance = license_accept(user=request.user, repo=repo, answers=form.answers(),
                                        ip=client_ip(request))
        except InvalidInput as exc:
            form.add_error(None, exc.message)
        else:
            if acceptance.status == acceptance.Status.ACCEPTED:
                messages.success(request, _("License accepted: you can download this model now."))
            elif acceptance.status == acceptance.Status.PENDING:
                messages.info(request, _("Request sent. The model's owners review requests by hand; "
                                         "downloads unlock once they approve."))
            else:
                messages.warning(request, _("Your request for this model was rejected."))
            return redirect(base)
    try:
        head = revision_commit(repo=repo, revision=DEFAULT_BRANCH)
    except RevisionNotFound:
        head = None
    context = _repo_context(request, repo, revision=DEFAULT_BRANCH, tab="card", commit=head, access=access)
    context["form"] = form
    return render(request, "portal/model_accept.html", context)
