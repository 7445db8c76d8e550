"""Reads about a repo's license."""

from __future__ import annotations

from registry.models import ModelRepo


def license_disagreement(repo: ModelRepo) -> str:
    """A sentence when main's card (`license:`) names another license than the repo's setting, else ""."""
    card = (repo.card_license or "").strip().lower()
    if not card or repo.license_id is None or card == repo.license.slug.lower():
        return ""
    return (f"the model card says license: {repo.card_license}, but the repository's license setting is "
            f"{repo.license.slug}")
