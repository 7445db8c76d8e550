"""Reads for the browser pages: file trees, access status, organisation pages (model lists and search:
registry.selectors.catalogue).

Every function takes the viewer and applies the same visibility rules as the API selectors
(private repos don't exist for outsiders). Lists do a constant number of queries per page.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import EntryNotFound, PermissionDenied, RepoNotFound, RevisionNotFound
from registry.hashing import COMMIT_OID_RE
from registry.models import (
    PR_REF_PREFIX,
    ApiKey,
    Branch,
    Commit,
    CommitDir,
    CommitFile,
    LicenseAcceptance,
    Membership,
    ModelRepo,
    Organization,
    Tag,
)
from registry.names import lookup_ok
from registry.selectors import trees
from registry.selectors.catalogue import RepoQuery, repo_page
from registry.selectors.keyset import KeysetPage
from registry.selectors.repos import lower_is, repo_visible_queryset
from registry.selectors.validation import file_quarantine, quarantine_attach, with_quarantine

DEFAULT_BRANCH = "main"


# --- one model ------------------------------------------------------------------------------------


def revision_split(*, repo: ModelRepo, rest: str) -> tuple[str, str]:
    """Split `<rev>/<path>` where the revision may itself contain '/': the longest known ref wins."""
    rest = rest.strip("/")
    if "/" not in rest:
        return rest, ""
    first, _, remainder = rest.partition("/")
    if COMMIT_OID_RE.match(first):
        return first, remainder
    names = set(Branch.objects.filter(repo=repo).values_list("name", flat=True))
    names |= set(Tag.objects.filter(repo=repo).values_list("name", flat=True))
    parts = rest.split("/")
    for cut in range(len(parts), 0, -1):
        candidate = "/".join(parts[:cut])
        if candidate in names:
            return candidate, "/".join(parts[cut:])
    return first, remainder


def revision_commit(*, repo: ModelRepo, revision: str) -> Commit:
    from registry.selectors.repos import revision_resolve

    return revision_resolve(repo=repo, revision=revision)


def repo_readme(*, repo: ModelRepo, commit: Commit | None) -> str:
    """README.md of the commit as text ('' when there is none or it lives in the blob store)."""
    if commit is None:
        return ""
    entry = CommitFile.objects.filter(commit=commit, path="README.md").only("content").first()
    if entry is None or entry.content is None:
        return ""
    return bytes(entry.content).decode("utf-8", errors="replace")


def repo_default_head(*, repo: ModelRepo) -> Commit | None:
    try:
        return revision_commit(repo=repo, revision=DEFAULT_BRANCH)
    except RevisionNotFound:
        branch = Branch.objects.filter(repo=repo).select_related("head").order_by("name").first()
        return branch.head if branch else None


@dataclass
class TreeEntry:
    name: str
    path: str
    is_dir: bool
    size: int = 0
    file: CommitFile | None = None
    files: int = 0
    quarantine: str | None = None  # why the file's content is not served (it failed validation)


@dataclass
class TreeListing:
    folder: CommitDir  # the folder listed: its size and file count below it
    entries: list[TreeEntry]
    next_cursor: tuple[str, str] | None  # `after` for the next page, when more follow


TREE_PAGE_SIZE = 100


def tree_listing(*, commit: Commit, path: str = "", after: tuple[str, str] | None = None,
                 limit: int | None = None) -> TreeListing:
    """A page of the direct children of `path` in the commit's tree: folders first, then files, each in byte order
    of their paths, after the previous page's `next_cursor`; each file with its quarantine reason. Four queries
    whatever the size of the tree or of the folder (the folder, its folders, its files, their verdicts).

    Raises EntryNotFound when `path` is neither the root nor a folder of the tree.
    """
    path = path.strip("/")
    folder = trees.folder_get(commit=commit, path=path) if lookup_ok(path) else None
    if folder is None:
        raise EntryNotFound(gettext("%(path)s does not exist in revision %(oid)s") % {"path": path, "oid": commit.oid})
    page = trees.folder_page(commit=commit, folder=path, after=after, limit=limit or TREE_PAGE_SIZE)
    quarantine_attach(files=page.files)
    entries = [TreeEntry(posixpath.basename(d.path), d.path, True, d.size, files=d.files) for d in page.folders]
    entries += [TreeEntry(posixpath.basename(f.path), f.path, False, f.size, f,
                          quarantine=file_quarantine(commit_file=f)) for f in page.files]
    return TreeListing(folder, entries, page.next_cursor)


def tree_file(*, commit: Commit, path: str) -> CommitFile:
    """The file (content included), with `quarantine_reason` annotated for `file_quarantine`."""
    entry = with_quarantine(CommitFile.objects.select_related("blob").filter(commit=commit, path=path)).first()
    if entry is None:
        raise EntryNotFound(gettext("%(path)s does not exist in revision %(oid)s") % {"path": path, "oid": commit.oid})
    return entry


def breadcrumbs(path: str) -> list[tuple[str, str]]:
    """[(name, path-so-far)] for each segment of a repo path."""
    crumbs: list[tuple[str, str]] = []
    current = ""
    for part in [p for p in path.split("/") if p]:
        current = posixpath.join(current, part) if current else part
        crumbs.append((part, current))
    return crumbs


def repo_refs_for_page(*, repo: ModelRepo) -> tuple[list[str], list[str]]:
    branches = list(Branch.objects.filter(repo=repo).exclude(name__startswith=PR_REF_PREFIX).order_by("name")
                    .values_list("name", flat=True))  # pull requests' refs are reached from their thread
    tags = list(Tag.objects.filter(repo=repo).order_by("name").values_list("name", flat=True))
    return branches, tags


def first_weight_file(*, commit: Commit | None) -> str:
    """A file worth showing in download snippets: config.json, else the first blob file, else README."""
    if commit is None:
        return "README.md"
    paths = list(CommitFile.objects.filter(commit=commit).values_list("path", "blob_id")[:500])
    names = {p for p, _ in paths}
    if "config.json" in names:
        return "config.json"
    for p, blob_id in paths:
        if blob_id is not None:
            return p
    return "README.md" if "README.md" in names else (paths[0][0] if paths else "README.md")


# --- gated access -----------------------------------------------------------------------------------


@dataclass
class AccessStatus:
    can_download: bool
    is_gated: bool
    exempt: bool = False  # member of the owner, owner, or staff
    acceptance: LicenseAcceptance | None = None
    reason: str = ""  # machine-readable: anonymous | not_requested | pending | rejected | private | disabled

    @property
    def status(self) -> str | None:
        return self.acceptance.status if self.acceptance else None


def access_status(*, viewer: Any, repo: ModelRepo) -> AccessStatus:
    """What the viewer may download from the repo, and why not when they may not."""
    authenticated = viewer is not None and getattr(viewer, "is_authenticated", False)
    if repo.disabled:
        return AccessStatus(False, repo.is_gated, reason="disabled")
    if not repo.is_gated:
        return AccessStatus(permissions.can_read_repo(viewer, repo), False)
    if not authenticated:
        return AccessStatus(False, True, reason="anonymous")
    exempt = bool(
        viewer.is_superuser
        or (repo.owner_user_id is not None and repo.owner_user_id == viewer.pk)
        or (repo.owner_org_id is not None and permissions.org_role(viewer, repo.owner_org) is not None)
    )
    if exempt:
        return AccessStatus(True, True, exempt=True)
    acceptance = permissions.acceptance_for(viewer, repo)
    if acceptance is None:
        return AccessStatus(False, True, reason="not_requested")
    accepted = acceptance.status == LicenseAcceptance.Status.ACCEPTED
    return AccessStatus(accepted, True, acceptance=acceptance, reason="" if accepted else acceptance.status)


# --- organisations and users ----------------------------------------------------------------------------


@dataclass
class NamespacePage:
    slug: str
    organization: Organization | None
    user: Any
    memberships: list[Membership]
    repos: KeysetPage  # one page of the namespace's models, most downloaded first
    viewer_role: str | None

    @property
    def viewer_is_admin(self) -> bool:
        return self.viewer_role == Membership.Role.ADMIN

    @property
    def viewer_reviews_access(self) -> bool:
        """Write and admin members review the organisation's access requests."""
        return self.viewer_role in permissions.WRITE_ROLES


def namespace_page(*, viewer: Any, slug: str, cursor: str | None = None, page_size: int = 30) -> NamespacePage:
    """An organisation (members, roles, a page of its models) or a user's models. RepoNotFound when neither
    exists; InvalidInput for a cursor that is not one of this list's."""
    org = Organization.objects.filter(lower_is("slug", slug)).first()
    user = None
    memberships: list[Membership] = []
    role = None
    if org is not None:
        memberships = list(Membership.objects.filter(organization=org).select_related("user")
                           .order_by("role", "user__username"))
        if viewer is not None and getattr(viewer, "is_authenticated", False):
            role = next((m.role for m in memberships if m.user_id == viewer.pk), None)
            if role is None and viewer.is_superuser:
                role = Membership.Role.ADMIN
    else:
        user = get_user_model().objects.filter(lower_is("username", slug), is_active=True).first()
        if user is None:
            raise RepoNotFound(gettext("%(slug)s does not exist") % {"slug": slug})
    slug = org.slug if org else user.get_username()
    repos = repo_page(viewer=viewer, query=RepoQuery(namespace=slug), cursor=cursor, size=page_size)
    return NamespacePage(slug, org, user, memberships, repos, role)


def _members_refused() -> str:
    return gettext("Only the organisation's admins manage its members.")


def _org_for_admin(*, viewer: Any, slug: str, refused: str,
                   roles: frozenset[str] = frozenset({Membership.Role.ADMIN})) -> Organization:
    """The organisation, for one of its members with one of `roles` (its admins unless told); `refused` is what
    anyone else's 403 page says."""
    org = Organization.objects.filter(lower_is("slug", slug)).first()
    if org is None:
        raise RepoNotFound(gettext("%(slug)s does not exist") % {"slug": slug})
    if not getattr(viewer, "is_authenticated", False):
        raise PermissionDenied(gettext("sign in as an organisation admin"))
    if not (viewer.is_superuser or permissions.org_role(viewer, org) in roles):
        raise PermissionDenied(refused)
    return org


def _org_for_access_requests(*, viewer: Any, slug: str) -> Organization:
    return _org_for_admin(viewer=viewer, slug=slug, roles=frozenset(permissions.WRITE_ROLES), refused=gettext(
        "Only the organisation's members with the write or admin role review access requests."))


def access_requests_pending(*, viewer: Any, slug: str) -> tuple[Organization, list[LicenseAcceptance]]:
    """Pending license acceptances for the organisation's repos; its write and admin members (and staff) only, who
    manage access requests as on the Hugging Face Hub (registry.permissions.can_manage_access_requests)."""
    org = _org_for_access_requests(viewer=viewer, slug=slug)
    pending = list(
        LicenseAcceptance.objects.filter(repo__owner_org=org, status=LicenseAcceptance.Status.PENDING)
        .select_related("user", "repo", "license")
        .order_by("created_at", "id")
    )
    return org, pending


def access_request_get(*, viewer: Any, slug: str, pk: int) -> LicenseAcceptance:
    org = _org_for_access_requests(viewer=viewer, slug=slug)
    acceptance = (LicenseAcceptance.objects.select_related("user", "repo", "repo__owner_org", "license")
                  .filter(pk=pk, repo__owner_org=org).first())
    if acceptance is None:
        raise EntryNotFound(gettext("no such access request"))
    return acceptance


# --- API keys ----------------------------------------------------------------------------------------------


def api_keys_of(*, user: Any) -> list[ApiKey]:
    keys = ApiKey.objects.filter(user=user).select_related("organization")
    return list(keys.order_by("-created_at", "-id"))


def api_key_own(*, user: Any, pk: int) -> ApiKey:
    key = ApiKey.objects.filter(user=user, pk=pk).first()
    if key is None:
        raise EntryNotFound(gettext("no such API key"))
    return key


def user_organizations(*, user: Any) -> list[Organization]:
    if not getattr(user, "is_authenticated", False):
        return []
    if user.is_superuser:
        return list(Organization.objects.order_by("slug"))
    return list(Organization.objects.filter(memberships__user=user).order_by("slug"))


# --- download counts and per-licensee records -----------------------------------------------------------------


@dataclass(frozen=True)
class DownloadDayCount:
    day: Any  # datetime.date
    count: int


def download_days(*, repo: ModelRepo, days: int = 30, today: Any = None) -> list[DownloadDayCount]:
    """Counted downloads for each of the last `days` UTC days, oldest first, zeros included (one query)."""
    import datetime

    from django.utils import timezone

    from registry.models import DownloadDay

    today = today or timezone.now().astimezone(datetime.UTC).date()
    start = today - datetime.timedelta(days=days - 1)
    counts = dict(DownloadDay.objects.filter(repo=repo, day__gte=start, day__lte=today).values_list("day", "count"))
    return [DownloadDayCount(day, counts.get(day, 0))
            for day in (start + datetime.timedelta(days=i) for i in range(days))]


def repo_for_admin(*, viewer: Any, namespace: str, name: str) -> ModelRepo:
    """A repo whose owner's admin the viewer is: outsiders of a private repo get RepoNotFound, others
    PermissionDenied."""
    from registry.selectors.repos import repo_get

    repo = repo_get(viewer=viewer, namespace=namespace, name=name)
    if not permissions.can_admin_repo(viewer, repo):
        raise PermissionDenied(gettext("only the model's organisation admins can see this page"))
    return repo


def repo_for_writer(*, viewer: Any, namespace: str, name: str) -> ModelRepo:
    from registry.selectors.repos import repo_get

    repo = repo_get(viewer=viewer, namespace=namespace, name=name)
    if not permissions.can_write_repo(viewer, repo):
        raise PermissionDenied(gettext("you need write access to this model"))
    return repo


def user_downloads_page(*, repo: ModelRepo, page_number: Any, per_page: int = 50) -> tuple[Any, dict[int, Any]]:
    """A page of the repo's per-user download records (newest first) and, per user on the page, their newest
    license acceptance for this repo. Three queries whatever the page size (count, rows, acceptances)."""
    from django.core.paginator import Paginator

    from registry.models import UserDownload

    rows = (UserDownload.objects.filter(repo=repo).select_related("user", "commit", "api_key")
            .order_by("-last_at", "-id"))
    page = Paginator(rows, per_page).get_page(page_number)
    user_ids = {row.user_id for row in page.object_list}
    acceptances: dict[int, LicenseAcceptance] = {}
    for acceptance in (LicenseAcceptance.objects.filter(repo=repo, user_id__in=user_ids)
                       .order_by("user_id", "-license_version", "-created_at")):
        acceptances.setdefault(acceptance.user_id, acceptance)
    return page, acceptances


# --- profile: my acceptances, my organisations ----------------------------------------------------------------


def acceptances_of(*, user: Any) -> list[LicenseAcceptance]:
    """The user's license acceptances and access requests (visible repos only), newest first."""
    visible = repo_visible_queryset(viewer=user).values("pk")
    return list(LicenseAcceptance.objects.filter(user=user, repo__in=visible)
                .select_related("repo", "repo__license", "license").order_by("-created_at", "-id"))


def memberships_of(*, user: Any) -> list[Membership]:
    return list(Membership.objects.filter(user=user).select_related("organization").order_by("organization__slug"))


# --- organisation members (admins) ---------------------------------------------------------------------------


@dataclass
class MembersPage:
    org: Organization
    memberships: list[Membership]
    invitations: list[Any]
    admin_count: int


def org_members_for_admin(*, viewer: Any, slug: str) -> MembersPage:
    from registry.models import OrgInvitation

    org = _org_for_admin(viewer=viewer, slug=slug, refused=_members_refused())
    memberships = list(Membership.objects.filter(organization=org).select_related("user")
                       .order_by("user__username"))
    invitations = list(OrgInvitation.objects.filter(organization=org, accepted_at__isnull=True)
                       .select_related("invited_by").order_by("email"))
    admins = sum(1 for m in memberships if m.role == Membership.Role.ADMIN)
    return MembersPage(org, memberships, invitations, admins)


def org_membership_get(*, viewer: Any, slug: str, pk: int) -> Membership:
    org = _org_for_admin(viewer=viewer, slug=slug, refused=_members_refused())
    membership = Membership.objects.select_related("user", "organization").filter(pk=pk, organization=org).first()
    if membership is None:
        raise EntryNotFound(gettext("no such member"))
    return membership


def org_invitation_get(*, viewer: Any, slug: str, pk: int) -> Any:
    from registry.models import OrgInvitation

    org = _org_for_admin(viewer=viewer, slug=slug, refused=_members_refused())
    invitation = (OrgInvitation.objects.select_related("organization")
                  .filter(pk=pk, organization=org, accepted_at__isnull=True).first())
    if invitation is None:
        raise EntryNotFound(gettext("no such invitation"))
    return invitation


def writable_namespaces(*, user: Any) -> list[str]:
    """Namespaces the user may create repos in: their own name, then organisations where they can write."""
    if not getattr(user, "is_authenticated", False):
        return []
    if user.is_superuser:
        slugs = list(Organization.objects.order_by("slug").values_list("slug", flat=True))
    else:
        slugs = list(Membership.objects.filter(user=user, role__in=list(permissions.WRITE_ROLES))
                     .order_by("organization__slug").values_list("organization__slug", flat=True))
    return [user.get_username(), *slugs]
