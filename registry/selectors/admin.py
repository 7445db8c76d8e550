"""Reads behind the Django admin's search boxes, each answered by an index (the admin is for staff: no viewer
filtering). A `%term%` match over 100,000 repos or a million audit rows is a sequential scan, so these match whole
names, case-insensitively, through functional indexes."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from registry.models import ModelRepo
from registry.names import name_ok

OID_PREFIX_MIN = 7  # as git abbreviates commit ids


def repos_matching(term: str) -> QuerySet[ModelRepo]:
    """Repos whose id is `owner/name`, or whose owner (user or organisation) or name is `term`, in any case: by the
    unique index on (Lower(namespace), Lower(name)) and the index on Lower(name)."""
    owner, _, name = term.strip().partition("/")
    if not name_ok(owner) or (name and not name_ok(name)):
        return ModelRepo.objects.none()
    qs = ModelRepo.objects.alias(namespace_ci=Lower("namespace"), name_ci=Lower("name"))
    if name:
        return qs.filter(namespace_ci=owner.lower(), name_ci=name.lower())
    return qs.filter(Q(namespace_ci=owner.lower()) | Q(name_ci=owner.lower()))


def hex_matches(term: str, field: str, *, length: int) -> Q | None:
    """A whole hex digest (a commit id: 40, a sha256: 64), or its first seven or more digits as a range over the
    field's index (lower-case hex sorts the same in every collation); None when `term` is neither."""
    term = term.strip().lower()
    if not OID_PREFIX_MIN <= len(term) <= length or any(c not in "0123456789abcdef" for c in term):
        return None
    if len(term) == length:
        return Q(**{field: term})
    return Q(**{f"{field}__gte": term, f"{field}__lt": term + "g"})
