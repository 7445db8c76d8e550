"""Who may see and change what. Pure decisions over loaded rows; services and selectors both use them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q
from django.utils.translation import gettext

from registry.exceptions import NotAuthenticated, PermissionDenied, RepoNotFound
from registry.models import ApiKey, LicenseAcceptance, Membership, ModelRepo, Organization

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    Viewer = AbstractBaseUser | AnonymousUser | None

WRITE_ROLES = {Membership.Role.ADMIN, Membership.Role.WRITE}


def _authenticated(user: Viewer) -> bool:
    return user is not None and bool(getattr(user, "is_authenticated", False))


def org_role(user: Viewer, org: Organization | None) -> str | None:
    if org is None or not _authenticated(user):
        return None
    membership = Membership.objects.filter(user=user, organization=org).only("role").first()
    return membership.role if membership else None


def can_read_repo(user: Viewer, repo: ModelRepo) -> bool:
    """Private repos exist only for their owner, the owning organisation's members and staff."""
    if not repo.private:
        return True
    if not _authenticated(user):
        return False
    if user.is_superuser:
        return True
    if repo.owner_user_id is not None:
        return repo.owner_user_id == user.pk
    return org_role(user, repo.owner_org) is not None


def repo_readers(repo: ModelRepo) -> Q:
    """`can_read_repo` as a filter on the user table, to pick the readers among many users in one query (mail
    recipients, webhook owners): everyone for a public repo; else superusers, the owner, the organisation's
    members."""
    if not repo.private:
        return Q()
    readers = Q(is_superuser=True)
    if repo.owner_user_id is not None:
        return readers | Q(pk=repo.owner_user_id)
    return readers | Q(pk__in=Membership.objects.filter(organization_id=repo.owner_org_id).values("user_id"))


def key_allows_write(api_key: ApiKey | None, org_id: int | None) -> bool:
    """An API key needs the write scope; an org-restricted key writes only inside that organisation."""
    if api_key is None:
        return True
    if not api_key.has_scope("write"):
        return False
    return api_key.organization_id is None or api_key.organization_id == org_id


def can_write_namespace(user: Viewer, namespace: str, api_key: ApiKey | None = None) -> bool:
    if not _authenticated(user):
        return False
    org = Organization.objects.filter(slug=namespace).first()
    if not key_allows_write(api_key, org.pk if org else None):
        return False
    if org is None:
        return namespace == user.get_username()
    return user.is_superuser or org_role(user, org) in WRITE_ROLES


def can_admin_namespace(user: Viewer, namespace: str, api_key: ApiKey | None = None) -> bool:
    if not _authenticated(user):
        return False
    org = Organization.objects.filter(slug=namespace).first()
    if not key_allows_write(api_key, org.pk if org else None):
        return False
    if org is None:
        return namespace == user.get_username()
    return user.is_superuser or org_role(user, org) == Membership.Role.ADMIN


def can_write_repo(user: Viewer, repo: ModelRepo, api_key: ApiKey | None = None) -> bool:
    if not _authenticated(user) or not key_allows_write(api_key, repo.owner_org_id):
        return False
    if user.is_superuser:
        return True
    if repo.owner_user_id is not None:
        return repo.owner_user_id == user.pk
    return org_role(user, repo.owner_org) in WRITE_ROLES


def can_moderate_community(user: Viewer, repo: ModelRepo, api_key: ApiKey | None = None) -> bool:
    """A repo writer in its discussions and pull requests (edit or hide anyone's comment, rename or close any
    thread, comment on a locked one, merge): whoever can write the repo, and staff."""
    return can_write_repo(user, repo, api_key) or (_authenticated(user) and bool(user.is_staff))


def require_write_repo(user: Viewer, repo: ModelRepo, api_key: ApiKey | None = None) -> None:
    """Raise as every write route answers: RepoNotFound to those who can't see the repo, PermissionDenied to
    readers and read-scoped keys."""
    if not can_write_repo(user, repo, api_key):
        if not can_read_repo(user, repo):
            raise RepoNotFound(gettext("Repository not found"))
        raise PermissionDenied(gettext("You don't have write access to this repository"))


def can_propose(user: Viewer, repo: ModelRepo, api_key: ApiKey | None = None) -> bool:
    """Open a pull request (and upload its bytes): signed in, able to read the repo, with a key that may write.
    This grants nothing on the repo's branches: a proposal's commits land on its own `refs/pr/N` only."""
    return (_authenticated(user) and can_read_repo(user, repo) and key_allows_write(api_key, repo.owner_org_id)
            and not repo.disabled)


def require_propose(user: Viewer, repo: ModelRepo, api_key: ApiKey | None = None) -> None:
    """As require_write_repo answers, for the uploads of a pull request: 404 to those who can't see the repo, 401
    to anonymous callers, 403 to read-scoped keys and disabled repos."""
    if can_write_repo(user, repo, api_key) and not repo.disabled:
        return
    if not can_read_repo(user, repo):
        raise RepoNotFound(gettext("Repository not found"))
    if not _authenticated(user):
        raise NotAuthenticated(gettext("sign in to open a pull request"))
    if repo.disabled:
        raise PermissionDenied(gettext("This repository has been disabled"))
    if not key_allows_write(api_key, repo.owner_org_id):
        raise PermissionDenied(gettext("this API key is read-only: a pull request needs a key with the write scope"))


def can_admin_repo(user: Viewer, repo: ModelRepo, api_key: ApiKey | None = None) -> bool:
    if not _authenticated(user) or not key_allows_write(api_key, repo.owner_org_id):
        return False
    if user.is_superuser:
        return True
    if repo.owner_user_id is not None:
        return repo.owner_user_id == user.pk
    return org_role(user, repo.owner_org) == Membership.Role.ADMIN


def require_admin_repo(user: Viewer, repo: ModelRepo, api_key: ApiKey | None = None) -> None:
    """Raise as admin routes answer: RepoNotFound to those who can't see the repo, NotAuthenticated to anonymous
    callers of a public one, PermissionDenied to everyone else who isn't an admin (and to read-scoped keys)."""
    if not can_admin_repo(user, repo, api_key):
        if not can_read_repo(user, repo):
            raise RepoNotFound(gettext("Repository not found"))
        if not _authenticated(user):
            raise NotAuthenticated(gettext("Sign in as one of the model's organisation admins"))
        raise PermissionDenied(gettext("Only the model's organisation admins can do this"))


def can_manage_access_requests(user: Viewer, repo: ModelRepo, api_key: ApiKey | None = None) -> bool:
    """Gated-access requests (list, accept, reject, cancel, grant) are managed as on the Hugging Face Hub: by the
    owning organisation's members with the write or admin role (the owner of a user repo, staff), with a key
    that may write there."""
    return can_write_repo(user, repo, api_key)


def require_manage_access_requests(user: Viewer, repo: ModelRepo, api_key: ApiKey | None = None) -> None:
    """Raise as the access-request routes answer: RepoNotFound to those who can't see the repo, NotAuthenticated to
    anonymous callers of a public one, PermissionDenied to readers and read-scoped keys."""
    if not can_manage_access_requests(user, repo, api_key):
        if not can_read_repo(user, repo):
            raise RepoNotFound(gettext("Repository not found"))
        if not _authenticated(user):
            raise NotAuthenticated(gettext("Sign in as a member of the model's organisation with write access"))
        raise PermissionDenied(gettext(
            "Only members of the model's organisation with the write or admin role manage its access requests"))


# --- releases: consortium sign-off -------------------------------------------------------------------------


def consortium_admin_orgs(user: Viewer) -> list[int]:
    """Ids of the consortium-member organisations the user administers."""
    if not _authenticated(user):
        return []
    return list(Membership.objects.filter(user=user, role=Membership.Role.ADMIN,
                                          organization__is_consortium_member=True)
                .values_list("organization_id", flat=True))


def is_consortium_admin(user: Viewer) -> bool:
    """Superusers, and admins of a consortium-member organisation, sign releases off."""
    if not _authenticated(user):
        return False
    return bool(user.is_superuser or consortium_admin_orgs(user))


def can_review_releases(user: Viewer, repo: ModelRepo) -> bool:
    """Approve, reject, waive a check, withdraw: a consortium admin who may read the repo. Being an admin of some
    consortium organisation reaches no further than the repos one can read: a private repo's releases are reviewed
    by site admins and by those its organisation let in (a membership of any role)."""
    return can_read_repo(user, repo) and is_consortium_admin(user)


def can_see_open_releases(user: Viewer, repo: ModelRepo) -> bool:
    """Open (draft, pending) and rejected release requests, and withdrawn releases in listings: the repo's writers
    and its reviewers. Readers see published (and, by direct link, withdrawn) releases only."""
    return can_write_repo(user, repo) or can_review_releases(user, repo)


def acceptance_for(user: Viewer, repo: ModelRepo) -> LicenseAcceptance | None:
    """The user's acceptance record for the repo's current license version, if any."""
    if not _authenticated(user):
        return None
    version = repo.license.version if repo.license_id else 0
    return LicenseAcceptance.objects.filter(user=user, repo=repo, license_version=version).first()


def can_download(user: Viewer, repo: ModelRepo) -> bool:
    """Gated repos need an accepted license (current version); members of the owner are exempt."""
    if not can_read_repo(user, repo):
        return False
    if not repo.is_gated:
        return True
    if not _authenticated(user):
        return False
    if user.is_superuser or (repo.owner_user_id is not None and repo.owner_user_id == user.pk):
        return True
    if repo.owner_org_id is not None and org_role(user, repo.owner_org) is not None:
        return True
    acceptance = acceptance_for(user, repo)
    return acceptance is not None and acceptance.status == LicenseAcceptance.Status.ACCEPTED
