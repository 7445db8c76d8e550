"""What the selector tests share: the repos whose visibility they check, and their ids."""

from __future__ import annotations

import pytest

from registry.services.repos import repo_create


def ids(rows) -> list[str]:  # noqa: ANN001
    return [r.repo_id for r in rows]


@pytest.fixture
def repos(personas, make_repo):  # noqa: ANN001, ANN201
    """public, gated and private repos of acme, plus a private repo of the outsider's own."""
    public = make_repo("public-model")
    gated = make_repo("gated-model", gating="auto")
    private = make_repo("private-model", private=True)
    oscars = repo_create(actor=personas.outsider, namespace="oscar", name="own-private", private=True)
    return {"public": public, "gated": gated, "private": private, "oscars": oscars}
