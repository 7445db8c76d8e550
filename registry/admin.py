"""Django admin: organisations, members, repos, licenses, access requests, keys, takedowns, audit log.

Admin actions call services, so they are audited like every other change.

At scale (100,000 repos, a million audit rows) every changelist costs the same as on an empty hub: no full COUNT(*)
(`CappedCountPaginator`), no facet counts, orderings an index yields, filters with fixed choices (never a SELECT
DISTINCT or a select of every organisation), searches that match whole names through indexes
(registry/selectors/admin.py), related rows joined (`list_select_related`), autocomplete widgets for foreign keys,
and inlines that show the first rows of a 20,000-file commit rather than all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from registry.exceptions import HubError
from registry.models import (
    ApiKey,
    AuditEvent,
    Blob,
    Branch,
    Commit,
    CommitFile,
    License,
    LicenseAcceptance,
    Membership,
    ModelRepo,
    Organization,
    Tag,
)
from registry.selectors.admin import hex_matches, repos_matching
from registry.services.audit import AUDIT_ACTIONS, AUDIT_TARGET_TYPES
from registry.services.catalogue import catalogue_tracked, catalogue_update
from registry.services.keys import api_key_revoke
from registry.services.licenses import license_decide
from registry.services.repos import repo_set_disabled

COUNT_CAP = 10_000
INLINE_ROWS = 100


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


# --- changelists at scale ------------------------------------------------------------------------------------


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows (`SELECT COUNT(*) FROM (… LIMIT 10001)`): an exact count of a million rows
    costs more than the page it numbers. Past the cap the changelist says "10,000+"
    (templates/admin/registry/pagination.html) and links the pages up to it; filters reach the rest."""

    cap = COUNT_CAP

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.capped = False

    @cached_property
    def count(self) -> int:
        counted = self.object_list.order_by()[: self.cap + 1].count()
        self.capped = counted > self.cap
        return min(counted, self.cap)


class ScaledAdmin(admin.ModelAdmin):
    """A changelist over a table that grows without bound."""

    paginator = CappedCountPaginator
    show_full_result_count = False  # a second COUNT(*) of the unfiltered table
    show_facets = admin.ShowFacets.NEVER  # a COUNT per filter choice


class ServiceRowsAdmin(ScaledAdmin):
    """Rows only the services make and remove, so their rules and AuditEvents apply: no add form and no plain
    delete (without the delete permission Django leaves out its delete_selected action too). Actions call a
    service per selected row through `each`."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False

    def each(self, request: HttpRequest, rows: Iterable[Any], call: Callable[[Any], object], done: str) -> None:
        """`call(row)` for every row; a refusal (HubError) is reported beside its row and the others go on.
        `done` is the success message, formatted with the count ("{} thread(s) locked.")."""
        count = 0
        for row in rows:
            try:
                call(row)
                count += 1
            except HubError as exc:
                self.message_user(request, f"{row}: {exc.message}", messages.ERROR)
        if count:
            self.message_user(request, done.format(count), messages.SUCCESS)


class KnownValuesFilter(admin.SimpleListFilter):
    """A filter whose choices are a fixed list (Django's default for a text field runs SELECT DISTINCT over the
    whole table to find them)."""

    known: tuple[str, ...] = ()

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(value, value) for value in self.known]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


class FirstRowsFormSet(BaseInlineFormSet):
    """The first INLINE_ROWS rows of an inline (in its ordering, which an index yields): a 20,000-file commit is
    not one page. Read once; the forms index the fetched rows."""

    def get_queryset(self) -> QuerySet:
        if not hasattr(self, "_first_rows"):
            self._first_rows = super().get_queryset()[:INLINE_ROWS]
            len(self._first_rows)  # evaluate now: forms index the cached rows, not one query each
        return self._first_rows


def _search_repos(queryset: QuerySet, term: str, field: str = "repo") -> Q:
    """Rows of repos named by `term` (owner/name or an owner), for a changelist search box."""
    return Q(**{f"{field}__in": repos_matching(term).values("pk")})


class RepoSearchMixin:
    """Search: `owner/name`, an owner, or (`oid_field`) a commit id or its first seven or more hex digits."""

    search_fields = ["__indexed__"]  # shows the box; get_search_results decides
    search_help_text = "owner/name of a repo, an owner or a repo name (any case), or a commit id (7+ hex digits)."
    repo_field = "repo"
    oid_field: str | None = "commit__oid"

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        match = _search_repos(queryset, term, self.repo_field)
        oid = hex_matches(term, self.oid_field, length=40) if self.oid_field else None
        return queryset.filter(match | oid if oid is not None else match), False


# --- organisations, people, repos ----------------------------------------------------------------------------


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(ScaledAdmin):
    # Organisations are few (one per fifty repos): a substring search over them is cheap, and it is what the
    # owner autocomplete of the repo form needs.
    list_display = ["slug", "name", "is_consortium_member", "created_at"]
    list_filter = ["is_consortium_member"]
    search_fields = ["slug", "name"]
    sortable_by = ["slug"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ScaledAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]  # not the organisation: a link per organisation
    list_select_related = ["user", "organization"]
    search_fields = ["=user__username", "=organization__slug"]
    search_help_text = "A username or an organisation, exactly (any case)."
    ordering = ["-pk"]
    sortable_by = []
    autocomplete_fields = ["user", "organization"]


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "version", "updated_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["version", "updated_at"]

    def save_model(self, request, obj, form, change):  # noqa: ANN001
        if change and "text" in form.changed_data:
            from registry.services.licenses import license_update_text

            new_text = obj.text
            original = License.objects.get(pk=obj.pk)
            for field in form.changed_data:
                if field != "text":
                    setattr(original, field, getattr(obj, field))
            original.save()
            license_update_text(actor=request.user, license=original, text=new_text, ip=_ip(request))
            obj.version = original.version
            return
        super().save_model(request, obj, form, change)


@admin.register(ModelRepo)
class ModelRepoAdmin(ScaledAdmin):
    list_display = ["repo_id", "private", "gating", "license", "disabled", "downloads", "updated_at"]
    list_filter = ["private", "gating", "disabled"]  # not the owner: a link per organisation
    list_select_related = ["license"]
    search_fields = ["__indexed__"]
    search_help_text = "owner/name of a repo, an owner (user or organisation) or a repo name, any case."
    sortable_by = ["downloads", "updated_at"]  # indexed; the default order is the (namespace, name) index
    readonly_fields = ["card_data", "tags", "pipeline_tag", "languages", "card_license", "parameter_count",
                       "downloads", "created_at", "updated_at", "audit_events"]
    autocomplete_fields = ["owner_user", "owner_org"]
    actions = ["take_down", "restore"]

    def save_model(self, request, obj, form, change):  # noqa: ANN001
        # Visibility, license and namespace are facets: their public counts follow the edit, in its transaction.
        if not change:
            super().save_model(request, obj, form, change)
            catalogue_update(repo_id=obj.pk, before=set())
            return
        if form is not None and "license" in form.changed_data and "license_from_card" not in form.changed_data:
            obj.license_from_card = False  # an admin's choice: a card's `license:` no longer overrides it
        with catalogue_tracked(repo_id=obj.pk):
            super().save_model(request, obj, form, change)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(pk__in=repos_matching(search_term).values("pk")), False

    @admin.display(description="audit events")
    def audit_events(self, repo: ModelRepo) -> str:
        url = reverse("admin:registry_auditevent_changelist")
        return format_html('<a href="{}?target_type=modelrepo&amp;target_id={}">Events of this repo</a>', url,
                           repo.pk)

    @admin.action(description="Take down (disable downloads)")
    def take_down(self, request: HttpRequest, queryset: QuerySet[ModelRepo]) -> None:
        for repo in queryset:
            repo_set_disabled(actor=request.user, repo=repo, disabled=True, reason=repo.disabled_reason,
                              ip=_ip(request))
        self.message_user(request, f"{queryset.count()} repo(s) taken down.", messages.SUCCESS)

    @admin.action(description="Restore taken-down repos")
    def restore(self, request: HttpRequest, queryset: QuerySet[ModelRepo]) -> None:
        for repo in queryset:
            repo_set_disabled(actor=request.user, repo=repo, disabled=False, ip=_ip(request))
        self.message_user(request, f"{queryset.count()} repo(s) restored.", messages.SUCCESS)


@admin.register(LicenseAcceptance)
class LicenseAcceptanceAdmin(ScaledAdmin):
    list_display = ["user", "repo", "license_version", "status", "created_at", "decided_by", "ip"]
    list_filter = ["status"]  # not the repo: a link per repo
    list_select_related = ["user", "repo", "decided_by"]
    search_fields = ["__indexed__"]
    search_help_text = "owner/name of a repo, an owner or a repo name (any case), or a username (exactly)."
    ordering = ["-pk"]
    sortable_by = []
    readonly_fields = ["user", "repo", "license", "license_version", "answers", "ip", "created_at",
                       "decided_at", "decided_by"]
    actions = ["approve", "reject"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(_search_repos(queryset, term) | Q(user__username=term)), False

    def _decide(self, request: HttpRequest, queryset: QuerySet[LicenseAcceptance], approve: bool) -> None:
        done = 0
        for acceptance in queryset.select_related("repo", "user"):
            try:
                license_decide(actor=request.user, acceptance=acceptance, approve=approve, ip=_ip(request))
                done += 1
            except HubError as exc:
                self.message_user(request, f"{acceptance}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{done} request(s) {'approved' if approve else 'rejected'}.", messages.SUCCESS)

    @admin.action(description="Approve selected access requests")
    def approve(self, request: HttpRequest, queryset: QuerySet[LicenseAcceptance]) -> None:
        self._decide(request, queryset, True)

    @admin.action(description="Reject selected access requests")
    def reject(self, request: HttpRequest, queryset: QuerySet[LicenseAcceptance]) -> None:
        self._decide(request, queryset, False)


@admin.register(ApiKey)
class ApiKeyAdmin(ScaledAdmin):
    list_display = ["prefix", "name", "user", "scopes", "organization", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]  # a date filter (fixed choices); not the organisation: a link per organisation
    list_select_related = ["user", "organization"]
    search_fields = ["prefix", "=user__username"]
    search_help_text = "A key's prefix (hub_…) or its owner's username, exactly."
    ordering = ["-pk"]
    sortable_by = []
    readonly_fields = ["user", "prefix", "secret_hash", "scopes", "organization", "expires_at", "last_used_at",
                       "revoked_at", "created_at"]
    actions = ["revoke"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(prefix=term) | Q(user__username=term)), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Secrets are shown once to their owner: keys are created in the portal or with issue_api_key.
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset.select_related("user"):
            api_key_revoke(actor=request.user, key=key, ip=_ip(request))
        self.message_user(request, f"{queryset.count()} key(s) revoked.", messages.SUCCESS)


# --- the audit log -------------------------------------------------------------------------------------------


class AuditActionFilter(KnownValuesFilter):
    title = "action"
    parameter_name = "action"
    known = AUDIT_ACTIONS


class AuditTargetTypeFilter(KnownValuesFilter):
    title = "target type"
    parameter_name = "target_type"
    known = AUDIT_TARGET_TYPES


@admin.register(AuditEvent)
class AuditEventAdmin(ScaledAdmin):
    """Newest first through the (created_at, id) index; the action, target and date filters and the search each
    have an index that yields their rows newest first (registry/models/core.py). No date_hierarchy: its drill-down
    runs DISTINCT date_trunc over every row; the date filter's choices are fixed ranges."""

    list_display = ["created_at", "actor_label", "action", "target_type", "target_label", "ip"]
    list_filter = [AuditActionFilter, AuditTargetTypeFilter, ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=actor_label", "=target_label"]
    search_help_text = "A username, or a target (owner/name of a repo, an organisation…), exactly (any case)."
    sortable_by = ["created_at"]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # ?target_type=modelrepo&target_id=42: a repo's events (the link on its admin page).
        return lookup == "target_id" or super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False


# --- commits, blobs, refs ------------------------------------------------------------------------------------


class CommitFileInline(admin.TabularInline):
    model = CommitFile
    formset = FirstRowsFormSet
    verbose_name_plural = f"files (the first {INLINE_ROWS} by path; the repo's files page lists them all)"
    fields = ["path", "size", "blob", "git_oid"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CommitFile]:
        return super().get_queryset(request).select_related("blob").defer("content")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(Commit)
class CommitAdmin(RepoSearchMixin, ScaledAdmin):
    list_display = ["oid", "repo", "title", "author_name", "created_at"]
    list_select_related = ["repo"]
    oid_field = "oid"
    ordering = ["-pk"]  # newest first by the primary key (no index on created_at across repos)
    sortable_by = []
    readonly_fields = ["oid", "repo", "parent", "author", "author_name", "title", "message", "created_at"]
    inlines = [CommitFileInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Blob)
class BlobAdmin(ScaledAdmin):
    list_display = ["sha256", "size", "state", "created_at", "verified_at"]
    list_filter = ["state"]
    search_fields = ["__indexed__"]
    search_help_text = "A sha256, or its first seven or more hex digits."
    ordering = ["-pk"]
    sortable_by = []
    readonly_fields = ["sha256", "size", "storage_key", "state", "rejected_reason", "multipart_upload_id",
                       "created_at", "uploaded_at", "verified_at"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        match = hex_matches(search_term, "sha256", length=64)
        return (queryset.filter(match) if match is not None else queryset.none()), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Branch)
class BranchAdmin(RepoSearchMixin, ScaledAdmin):
    list_display = ["repo", "name", "head", "updated_at"]
    list_select_related = ["repo", "head"]
    oid_field = "head__oid"
    ordering = ["-pk"]
    sortable_by = []
    readonly_fields = ["repo", "name", "head", "updated_at"]


@admin.register(Tag)
class TagAdmin(RepoSearchMixin, ScaledAdmin):
    list_display = ["repo", "name", "commit", "created_by", "created_at"]
    list_select_related = ["repo", "commit", "created_by"]
    ordering = ["-pk"]
    sortable_by = []
    readonly_fields = ["repo", "name", "commit", "message", "created_by", "created_at"]


# --- checkpoint validation ----------------------------------------------------------------------

from registry.models import ContentVerdict, FileCheck, ValidationRun  # noqa: E402
from registry.services.validation import validation_run_rerun  # noqa: E402


class FileCheckInline(admin.TabularInline):
    model = FileCheck
    formset = FirstRowsFormSet
    verbose_name_plural = f"file checks (the first {INLINE_ROWS} by path)"
    fields = ["path", "status", "size", "sha256", "checks"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(ValidationRun)
class ValidationRunAdmin(RepoSearchMixin, ScaledAdmin):
    list_display = ["repo", "commit_oid", "status", "progress", "attempts", "created_at", "started_at",
                    "finished_at"]
    list_filter = ["status"]
    list_select_related = ["repo", "commit"]
    ordering = ["-pk"]  # newest first by the primary key (no index on created_at across repos)
    sortable_by = []
    readonly_fields = ["repo", "commit", "status", "bytes_total", "bytes_checked", "attempts", "error",
                       "summary", "created_at", "started_at", "finished_at", "heartbeat_at"]
    inlines = [FileCheckInline]
    actions = ["rerun"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="commit")
    def commit_oid(self, run: ValidationRun) -> str:
        return run.commit.oid[:12]

    @admin.display(description="progress")
    def progress(self, run: ValidationRun) -> str:
        if not run.bytes_total:
            return "—"
        return f"{run.bytes_checked * 100 // run.bytes_total}% of {run.bytes_total:,} bytes"

    @admin.action(description="Re-run validation (drops cached verdicts of their files)")
    def rerun(self, request: HttpRequest, queryset: QuerySet[ValidationRun]) -> None:
        done = 0
        for run in queryset.select_related("repo", "commit"):
            try:
                validation_run_rerun(actor=request.user, repo=run.repo, commit=run.commit, ip=_ip(request))
                done += 1
            except HubError as exc:
                self.message_user(request, f"{run}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{done} run(s) queued again.", messages.SUCCESS)


@admin.register(ContentVerdict)
class ContentVerdictAdmin(ScaledAdmin):
    list_display = ["sha256", "status", "size", "format_hint", "stale", "created_at"]
    list_filter = ["status", "stale"]
    search_fields = ["__indexed__"]
    search_help_text = "A sha256 (or its first seven or more hex digits), or a git blob id, exactly."
    ordering = ["-pk"]
    sortable_by = []
    readonly_fields = ["sha256", "git_oid", "size", "format_hint", "status", "reason", "checks", "summary",
                       "stale", "created_at"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        match = hex_matches(term, "sha256", length=64)
        by_oid = Q(git_oid=term)
        return queryset.filter(match | by_oid if match is not None else by_oid), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --- Inference checks ---

from registry.models import InferenceCheck  # noqa: E402
from registry.services.inference import inference_check_rerun  # noqa: E402


@admin.register(InferenceCheck)
class InferenceCheckAdmin(RepoSearchMixin, ScaledAdmin):
    list_display = ["repo", "commit_oid", "status", "device", "tokens_per_second", "duration_seconds",
                    "created_at", "finished_at"]
    list_filter = ["status"]  # not the device: free text, its choices would be a SELECT DISTINCT
    list_select_related = ["repo", "commit"]
    ordering = ["-pk"]
    sortable_by = []
    readonly_fields = ["repo", "commit", "status", "reason", "metrics", "samples", "device", "library_versions",
                       "worker_host", "duration_seconds", "attempts", "created_at", "started_at", "heartbeat_at",
                       "finished_at"]
    actions = ["rerun"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="commit")
    def commit_oid(self, check: InferenceCheck) -> str:
        return check.commit.oid[:12]

    @admin.display(description="tokens/s")
    def tokens_per_second(self, check: InferenceCheck) -> str:
        value = (check.metrics or {}).get("tokens_per_second")
        return f"{value:.1f}" if isinstance(value, int | float) else "—"

    @admin.action(description="Re-run the inference check")
    def rerun(self, request: HttpRequest, queryset: QuerySet[InferenceCheck]) -> None:
        done = 0
        for check in queryset.select_related("repo", "commit"):
            try:
                inference_check_rerun(actor=request.user, repo=check.repo, commit=check.commit, ip=_ip(request))
                done += 1
            except HubError as exc:
                self.message_user(request, f"{check}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{done} check(s) queued again.", messages.SUCCESS)


# --- releases: sign-off, withdrawal, publishing again --------------------------------------------------------

from django import forms  # noqa: E402
from django.contrib.admin.helpers import ActionForm  # noqa: E402
from django.utils.html import format_html_join  # noqa: E402

from registry.models import Release, ReleaseAdvisory, ReleaseDecision, RepoFollow  # noqa: E402
from registry.services import releases as release_services  # noqa: E402


class ReleaseActionForm(ActionForm):
    reason = forms.CharField(required=False, label="Reason",
                             help_text="Needed to reject, withdraw or waive the inference check.")


class ReleaseDecisionInline(admin.TabularInline):
    model = ReleaseDecision
    extra = 0
    can_delete = False
    fields = ("created_at", "user", "organization", "decision", "reason")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(Release)
class ReleaseAdmin(RepoSearchMixin, ScaledAdmin):
    """Sign-off goes through the release services: the same rules (consortium admins, quorum, checklist) and
    AuditEvents as the API and the portal."""

    action_form = ReleaseActionForm
    list_display = ("repo", "version", "title", "state", "requested_by", "requested_at", "published_at")
    list_filter = ("state",)
    list_select_related = ("repo", "requested_by")
    inlines = [ReleaseDecisionInline]
    readonly_fields = ("repo", "version", "commit", "state", "checklist_items", "requested_by", "requested_at",
                       "approved_at", "published_at", "rejected_reason", "inference_waived_by",
                       "inference_waiver_reason", "signing_key_id", "publish_error", "withdrawn_at",
                       "withdrawn_by", "withdrawn_reason", "license")
    exclude = ("manifest", "signature", "checklist")
    actions = ["approve", "reject", "withdraw", "waive_inference", "recheck", "publish_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # releases are requested by members (API or portal), not created here

    @admin.display(description="Checklist")
    def checklist_items(self, obj: Release) -> str:
        return format_html_join("", "<div>{} {}: {}</div>", (
            ("✓" if item.get("ok") else "✗", item.get("label", ""), item.get("detail", ""))
            for item in obj.checklist or []))

    def _each(self, request: HttpRequest, queryset: QuerySet, verb: str, call) -> None:  # noqa: ANN001
        done = 0
        for release in queryset:
            try:
                call(release)
                done += 1
            except HubError as exc:
                self.message_user(request, f"{release}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} release(s) {verb}.", messages.SUCCESS)

    def _reason(self, request: HttpRequest) -> str:
        return request.POST.get("reason", "")

    @admin.action(description="Approve (sign off) the selected releases")
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, "approved", lambda r: release_services.release_approve(
            actor=request.user, release=r, reason=self._reason(request)))

    @admin.action(description="Reject the selected releases (reason needed)")
    def reject(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, "rejected", lambda r: release_services.release_reject(
            actor=request.user, release=r, reason=self._reason(request)))

    @admin.action(description="Withdraw the selected releases and warn their downloaders (reason needed)")
    def withdraw(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, "withdrawn", lambda r: release_services.release_withdraw(
            actor=request.user, release=r, reason=self._reason(request)))

    @admin.action(description="Waive the inference check (reason needed)")
    def waive_inference(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, "waived", lambda r: release_services.release_waive_inference(
            actor=request.user, release=r, reason=self._reason(request)))

    @admin.action(description="Re-check the checklist")
    def recheck(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, "re-checked", lambda r: release_services.release_recheck(release=r))

    @admin.action(description="Publish again (approved releases that failed to publish)")
    def publish_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, "queued", lambda r: release_services.release_queue_publish(
            actor=request.user, release=r))


@admin.register(ReleaseAdvisory)
class ReleaseAdvisoryAdmin(ScaledAdmin):
    list_display = ("release", "email", "sent_at")
    list_filter = ("sent_at",)
    list_select_related = ("release",)
    ordering = ("-pk",)
    sortable_by = ()
    readonly_fields = ("release", "user", "email", "sent_at")


@admin.register(RepoFollow)
class RepoFollowAdmin(ScaledAdmin):
    list_display = ("user", "repo", "created_at")
    list_select_related = ("user", "repo")
    ordering = ("-pk",)
    sortable_by = ()
    raw_id_fields = ("user", "repo")


# --- release mirrors -------------------------------------------------------------------------------------------

from registry.models import MirrorTarget, ReleaseMirror  # noqa: E402
from registry.services import mirrors as mirror_services  # noqa: E402


class MirrorTargetForm(forms.ModelForm):
    token = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                            help_text="A write token on the target hub. Stored encrypted; never shown again. "
                                      "Leave empty to keep the current one.")

    class Meta:
        model = MirrorTarget
        fields = ("repo", "endpoint", "target_repo_id", "enabled")

    def clean(self) -> dict:
        data = super().clean()
        if not self.instance.pk and not data.get("token"):
            self.add_error("token", "A token is needed for a new mirror target.")
        return data


@admin.register(MirrorTarget)
class MirrorTargetAdmin(admin.ModelAdmin):
    form = MirrorTargetForm
    list_display = ("repo", "endpoint", "target_repo_id", "enabled")
    list_select_related = ("repo",)
    raw_id_fields = ("repo",)

    def save_model(self, request: HttpRequest, obj: MirrorTarget, form, change: bool) -> None:  # noqa: ANN001
        token = form.cleaned_data.get("token") or (mirror_services.token_decrypt(obj.token_encrypted)
                                                   if change and obj.token_encrypted else "")
        target = mirror_services.mirror_target_set(actor=request.user, repo=obj.repo, endpoint=obj.endpoint,
                                                   target_repo_id=obj.target_repo_id, token=token,
                                                   enabled=obj.enabled)
        obj.pk, obj.token_encrypted = target.pk, target.token_encrypted


@admin.register(ReleaseMirror)
class ReleaseMirrorAdmin(ScaledAdmin):
    list_display = ("release", "target", "status", "attempts", "remote_commit", "updated_at")
    list_filter = ("status",)
    list_select_related = ("release", "target")
    readonly_fields = ("release", "target", "status", "attempts", "error", "remote_commit", "created_at",
                       "updated_at")
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry the selected pushes")
    def retry(self, request: HttpRequest, queryset: QuerySet) -> None:
        for mirror in queryset:
            mirror_services.mirror_retry(actor=request.user, mirror=mirror)
        self.message_user(request, f"{queryset.count()} push(es) queued.", messages.SUCCESS)


# --- community: discussions and pull requests ------------------------------------------------------------------

from registry.models import Discussion, DiscussionEvent  # noqa: E402
from registry.services import discussions as discussion_services  # noqa: E402


class DiscussionStatusFilter(KnownValuesFilter):
    title = "status"
    parameter_name = "status"
    known = tuple(Discussion.Status.values)


class DiscussionKindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("discussion", "discussion"), ("pull_request", "pull request")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("discussion", "pull_request"):
            return queryset.filter(is_pull_request=self.value() == "pull_request")
        return queryset


class DiscussionEventInline(admin.TabularInline):
    model = DiscussionEvent
    formset = FirstRowsFormSet
    verbose_name_plural = f"events (the first {INLINE_ROWS}; the thread's page shows them all)"
    fields = ["eid", "type", "author_name", "created_at", "hidden", "content"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(Discussion)
class DiscussionAdmin(ServiceRowsAdmin):
    """Moderation goes through the discussion services: the same rules and AuditEvents as the API and the portal.
    Search: `owner/name` of a repo or an owner, a title's words, or an author's username."""

    list_display = ("repo", "num", "title", "kind", "status", "author_name", "locked", "created_at")
    list_filter = (DiscussionStatusFilter, DiscussionKindFilter, "locked")
    list_select_related = ("repo",)
    ordering = ("-pk",)
    sortable_by = ()
    search_fields = ["__indexed__"]
    search_help_text = "owner/name of a repo or an owner, words of a title, or an author's username."
    readonly_fields = ("repo", "num", "is_pull_request", "title", "status", "author", "author_name",
                       "target_branch", "base_oid", "merge_commit_oid", "locked", "created_at", "updated_at")
    inlines = [DiscussionEventInline]
    actions = ["lock", "unlock", "delete_threads"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        match = _search_repos(queryset, term) | Q(title__icontains=term) | Q(author_name__iexact=term)
        return queryset.filter(match), False

    @admin.display(description="kind")
    def kind(self, obj: Discussion) -> str:
        return "pull request" if obj.is_pull_request else "discussion"

    @admin.action(description="Lock the selected threads (only the repo's writers comment)")
    def lock(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.each(request, queryset.select_related("repo"), lambda d: discussion_services.discussion_lock(
            actor=request.user, discussion=d, locked=True, ip=_ip(request)), "{} thread(s) locked.")

    @admin.action(description="Unlock the selected threads")
    def unlock(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.each(request, queryset.select_related("repo"), lambda d: discussion_services.discussion_lock(
            actor=request.user, discussion=d, locked=False, ip=_ip(request)), "{} thread(s) unlocked.")

    @admin.action(description="Delete the selected threads (spam; an audit event keeps what they were)")
    def delete_threads(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.each(request, queryset.select_related("repo"), lambda d: discussion_services.discussion_delete(
            actor=request.user, discussion=d, ip=_ip(request)), "{} thread(s) deleted.")


@admin.register(DiscussionEvent)
class DiscussionEventAdmin(ServiceRowsAdmin):
    """Comments and other events. Hiding goes through the service: the text and its history are erased for good
    and an AuditEvent is written. Search: a comment id, or `owner/name` of a repo."""

    list_display = ("eid", "discussion", "type", "author_name", "hidden", "created_at")
    list_filter = ("type", "hidden")
    list_select_related = ("discussion__repo",)
    ordering = ("-pk",)
    sortable_by = ()
    search_fields = ["__indexed__"]
    search_help_text = "a comment id, owner/name of a repo or an owner, or an author's username."
    readonly_fields = ("eid", "discussion", "type", "author", "author_name", "created_at", "updated_at", "data",
                       "content", "edited", "hidden", "hidden_by", "history")
    actions = ["hide_comments"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        match = (Q(eid=term) | _search_repos(queryset, term, "discussion__repo")
                 | Q(author_name__iexact=term))
        return queryset.filter(match), False

    @admin.action(description="Hide the selected comments for good (their text is erased)")
    def hide_comments(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.each(request, queryset.select_related("discussion__repo"), lambda event: discussion_services.comment_hide(
            actor=request.user, event=event, ip=_ip(request)), "{} comment(s) hidden.")


# --- webhooks --------------------------------------------------------------------------------------------------

from registry.models import Webhook, WebhookDelivery  # noqa: E402
from registry.services import webhooks as webhook_services  # noqa: E402


@admin.register(Webhook)
class WebhookAdmin(ServiceRowsAdmin):
    """Staff see every hook and can disable, enable or delete one (audited); owners edit them in the portal."""

    list_display = ("uid", "url", "owner_user", "owner_org", "domains", "disabled", "failure_streak", "created_at")
    list_filter = ("disabled",)
    list_select_related = ("owner_user", "owner_org")
    search_fields = ("=uid", "=owner_user__username", "=owner_org__slug")
    search_help_text = "A webhook's id, or its owner's username or organisation slug, exactly."
    ordering = ("-pk",)
    sortable_by = ()
    readonly_fields = ("uid", "owner_user", "owner_org", "url", "secret", "domains", "watched", "disabled",
                       "disabled_reason", "failure_streak", "created_by", "created_at", "updated_at")
    actions = ("disable", "enable", "delete_hooks")

    @admin.action(description="Disable the selected webhooks")
    def disable(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        self.each(request, queryset.select_related("owner_user", "owner_org"),
                  lambda hook: webhook_services.webhook_set_disabled(
                      actor=request.user, webhook=hook, disabled=True, staff=True,
                      reason="disabled by an administrator", ip=_ip(request)), "{} webhook(s) disabled.")

    @admin.action(description="Enable the selected webhooks")
    def enable(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        self.each(request, queryset.select_related("owner_user", "owner_org"),
                  lambda hook: webhook_services.webhook_set_disabled(
                      actor=request.user, webhook=hook, disabled=False, staff=True, ip=_ip(request)),
                  "{} webhook(s) enabled.")

    @admin.action(description="Delete the selected webhooks (audited)")
    def delete_hooks(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        self.each(request, queryset.select_related("owner_user", "owner_org"),
                  lambda hook: webhook_services.webhook_delete(actor=request.user, webhook=hook, staff=True,
                                                               ip=_ip(request)), "{} webhook(s) deleted.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ScaledAdmin):
    list_display = ("pk", "webhook", "scope", "action", "repo_name", "status", "attempts", "response_status",
                    "latency_ms", "created_at")
    list_filter = ("status",)
    list_select_related = ("webhook",)
    search_fields = ("=webhook__uid", "=repo_name")
    search_help_text = "A webhook's id or a repo's owner/name, exactly."
    ordering = ("-pk",)
    sortable_by = ()
    readonly_fields = ("webhook", "scope", "action", "repo_name", "payload", "status", "attempts",
                       "response_status", "latency_ms", "response_excerpt", "error", "replay_of", "created_at",
                       "delivered_at")
    actions = ("replay",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Replay the selected deliveries")
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = 0
        for delivery in queryset.select_related("webhook__owner_user", "webhook__owner_org"):
            webhook_services.webhook_replay(actor=request.user, delivery=delivery, staff=True, ip=_ip(request))
            count += 1
        self.message_user(request, f"{count} deliver(ies) queued again.", messages.SUCCESS)


# --- discussion attachments ------------------------------------------------------------------------------------

from registry.models import Attachment  # noqa: E402
from registry.services import attachments as attachment_services  # noqa: E402


@admin.register(Attachment)
class AttachmentAdmin(ServiceRowsAdmin):
    """Images, videos and sounds uploaded for discussions (`/uploads/<uid>.<ext>`). Deleting goes through the
    service: an AuditEvent, and the bytes leave the store. Search: a uid or an uploader's username."""

    list_display = ("filename", "uploader", "content_type", "size", "created_at")
    list_filter = ("content_type",)
    list_select_related = ("uploader",)
    ordering = ("-pk",)
    sortable_by = ()
    search_fields = ["__indexed__"]
    search_help_text = "an attachment's uid, or its uploader's username."
    readonly_fields = ("uid", "uploader", "storage_key", "content_type", "extension", "size", "sha256", "created_at")
    actions = ["delete_attachments"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        return queryset.filter(Q(uid=term) | Q(uploader__username=term)), False

    @admin.action(description="Delete the selected attachments (their bytes too)")
    def delete_attachments(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.each(request, queryset, lambda attachment: attachment_services.attachment_delete(
            actor=request.user, attachment=attachment, ip=_ip(request)), "{} attachment(s) deleted.")
