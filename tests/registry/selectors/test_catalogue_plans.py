"""Index use of the repo lookups, read from the database's plans.

The tables here are tiny, so the planner would rightly read them whole; these tests turn sequential scans off and
check that an index answers: the queries' LOWER() expressions match the functional unique indexes'.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from registry.models import ModelRepo, Organization
from registry.selectors.repos import lower_is, repo_by_name


def explain(sql: str) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def plans_of(run) -> list[str]:  # noqa: ANN001
    """The plans of the SELECTs that `run()` sends."""
    with CaptureQueriesContext(connection) as captured:
        run()
    return [explain(query["sql"]) for query in captured.captured_queries if query["sql"].startswith("SELECT")]


def test_the_case_insensitive_repo_lookup_uses_the_functional_unique_index(personas, make_repo):
    make_repo("kestrel-7b")
    ModelRepo.objects.update(tags=["llama"])
    [plan] = plans_of(lambda: repo_by_name(namespace="ACME", name="Kestrel-7B"))
    assert "uniq_repo_id_ci" in plan, plan


def test_the_case_insensitive_organisation_lookup_uses_its_functional_unique_index(personas):
    [plan] = plans_of(lambda: Organization.objects.filter(lower_is("slug", "ACME")).first())
    assert "uniq_org_slug_ci" in plan, plan
