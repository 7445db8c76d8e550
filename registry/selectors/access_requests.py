"""Access requests of one gated repo, as its admins manage them through the HF API (`user-access-request/…`).

Lists are keyset pages in request order (the current license version's requests of one status, by id), read
through the (repo, license_version, status, id) index: a page costs the same with ten or ten thousand requests.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import EntryNotFound, InvalidInput
from registry.models import ApiKey, LicenseAcceptance, ModelRepo

STATUSES = (LicenseAcceptance.Status.PENDING, LicenseAcceptance.Status.ACCEPTED, LicenseAcceptance.Status.REJECTED)


def _current_version(repo: ModelRepo) -> int:
    return repo.license.version if repo.license_id else 0


def access_requests_admin_check(*, viewer: Any, repo: ModelRepo, api_key: ApiKey | None = None) -> None:
    """The repo's managers only (its organisation's write and admin members, as on the Hub; 404 to those who can't
    see it), and only on gated repos (400)."""
    permissions.require_manage_access_requests(viewer, repo, api_key)
    if not repo.is_gated:
        raise InvalidInput(gettext("this model is not gated: it has no access requests"))


def access_requests_page(*, viewer: Any, repo: ModelRepo, status: str, after: int = 0, limit: int,
                         api_key: ApiKey | None = None) -> tuple[list[LicenseAcceptance], int | None]:
    """One page of the repo's requests in `status` for its current license version, oldest first, after the
    request id `after`; and the id the next page starts after (None on the last page). One query."""
    access_requests_admin_check(viewer=viewer, repo=repo, api_key=api_key)
    if status not in STATUSES:
        raise InvalidInput(gettext("status must be one of: pending, accepted, rejected"))
    rows = list(LicenseAcceptance.objects.filter(repo=repo, license_version=_current_version(repo), status=status,
                                                 id__gt=after)
                .select_related("user").order_by("id")[: limit + 1])
    return rows[:limit], (rows[limit - 1].pk if len(rows) > limit else None)


def access_request_find(*, viewer: Any, repo: ModelRepo, username: str | None = None,
                        request_id: str | None = None, api_key: ApiKey | None = None) -> LicenseAcceptance:
    """The request of the current license version named by a username or a request id (EntryNotFound if none)."""
    access_requests_admin_check(viewer=viewer, repo=repo, api_key=api_key)
    if (username is None) == (request_id is None):
        raise InvalidInput(gettext('give exactly one of "user" or "requestId"'))
    rows = LicenseAcceptance.objects.filter(repo=repo, license_version=_current_version(repo))
    if username is not None:
        user = user_by_username(username)
        found = rows.filter(user=user).first()
    else:
        found = rows.filter(pk=int(request_id)).first() if str(request_id).isdigit() and len(str(request_id)) < 19 \
            else None
    if found is None:
        raise EntryNotFound(gettext("no access request of this user for this model"))
    found.repo = repo
    return found


def user_by_username(username: Any) -> Any:
    """The user called `username` (EntryNotFound when there is none)."""
    if not isinstance(username, str) or not username or len(username) > 150:
        raise InvalidInput(gettext('"user" must be a username'))
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise EntryNotFound(gettext("user %(username)s does not exist on this hub") % {"username": username})
    return user
