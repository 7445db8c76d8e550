"""The admin at scale: a changelist or change page costs the same few queries however many rows the hub holds; no
query counts or DISTINCTs a whole table; the audit log's pages are served by its indexes (EXPLAIN, PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.admin import CappedCountPaginator
from registry.models import (
    ApiKey,
    AuditEvent,
    Branch,
    Commit,
    CommitFile,
    ContentVerdict,
    LicenseAcceptance,
    Membership,
    ModelRepo,
    Organization,
    ValidationRun,
)
from registry.services.audit import AUDIT_ACTIONS
from registry.services.commits import AddInline, commit_create
from registry.services.scale_seed import SEEDER, org_slug, scale_seed
from tests.fixtures.personas import make_user

postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="query plans are PostgreSQL's")

# The changelists of the tables that grow with the catalogue, the audit log and the people.
GROWING = [AuditEvent, ModelRepo, Commit, Branch, ValidationRun, ContentVerdict, LicenseAcceptance, ApiKey,
           Membership, Organization]
QUERY_BUDGET = 8  # session, user, capped count, the page (related rows joined), and Django's own few


def changelist(model: type[models.Model]) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change(obj: models.Model) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.fixture
def staff_client(client, db):  # noqa: ANN001, ANN201
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    return client


def seed(repos: int, audit: int) -> None:
    scale_seed(repos=repos, files=0, audit=audit)


def queries_of(client, url: str, params: dict | None = None) -> list[str]:  # noqa: ANN001
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200, url
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("model", GROWING, ids=lambda m: m.__name__)
def test_changelist_queries_stay_the_same_as_rows_grow(staff_client, model, django_assert_max_num_queries):
    seed(repos=150, audit=400)  # three organisations, seven users
    assert model.objects.count() >= 3
    few = queries_of(staff_client, changelist(model))
    seed(repos=500, audit=2000)
    with django_assert_max_num_queries(QUERY_BUDGET):
        many = queries_of(staff_client, changelist(model))
    assert len(many) == len(few), "\n".join(many)


@pytest.mark.parametrize("model", GROWING, ids=lambda m: m.__name__)
def test_changelist_never_counts_or_distincts_the_whole_table(staff_client, model):
    seed(repos=12, audit=80)
    for sql in queries_of(staff_client, changelist(model)):
        upper = sql.upper()
        assert "DISTINCT" not in upper, sql
        if "COUNT(" in upper:
            assert "LIMIT" in upper, f"an uncapped count: {sql}"


def test_a_long_list_says_more_than_the_cap(staff_client, monkeypatch):
    seed(repos=3, audit=40)
    monkeypatch.setattr(CappedCountPaginator, "cap", 25)
    page = staff_client.get(changelist(AuditEvent)).content.decode()
    assert "more than 25 audit events" in page
    few = staff_client.get(changelist(AuditEvent), {"action": "repo.create"}).content.decode()
    assert f"{AuditEvent.objects.filter(action='repo.create').count()} audit events" in few
    assert "more than" not in few


def test_audit_filters_offer_every_known_action_and_filter_by_it(staff_client):
    seed(repos=5, audit=100)
    response = staff_client.get(changelist(AuditEvent))
    choices = next(spec for spec in response.context["cl"].filter_specs if spec.parameter_name == "action")
    assert [value for value, _label in choices.lookup_choices] == list(AUDIT_ACTIONS)
    filtered = staff_client.get(changelist(AuditEvent), {"action": "repo.create"}).context["cl"]
    assert filtered.result_count == AuditEvent.objects.filter(action="repo.create").count() >= 5
    assert {e.action for e in filtered.result_list} == {"repo.create"}
    recent = staff_client.get(changelist(AuditEvent), {"created_at__gte": "2000-01-01 00:00:00+00:00"}).context["cl"]
    assert recent.result_count == AuditEvent.objects.count()


def test_audit_search_finds_an_actor_or_a_target_in_any_case(staff_client):
    seed(repos=5, audit=100)
    event = AuditEvent.objects.filter(action="repo.create").first()
    by_actor = staff_client.get(changelist(AuditEvent), {"q": event.actor_label.upper()}).context["cl"]
    assert by_actor.result_count == AuditEvent.objects.filter(actor_label=event.actor_label).count() > 0
    by_target = staff_client.get(changelist(AuditEvent), {"q": event.target_label.upper()}).context["cl"]
    assert {e.target_label for e in by_target.result_list} == {event.target_label}


def test_repo_page_links_to_its_audit_events(staff_client):
    seed(repos=5, audit=0)
    repo = ModelRepo.objects.first()
    page = staff_client.get(change(repo)).content.decode()
    link = f"{changelist(AuditEvent)}?target_type=modelrepo&amp;target_id={repo.pk}"
    assert link in page
    events = staff_client.get(link.replace("&amp;", "&")).context["cl"]
    assert events.result_count == AuditEvent.objects.filter(target_type="modelrepo", target_id=str(repo.pk)).count()
    assert events.result_count >= 2


@pytest.mark.parametrize(("term", "expected"), [
    ("{repo}", 1), ("{repo_upper}", 1), ("{owner}", "owner"), ("{name}", "name"), ("nothing-like-it", 0),
    ("x/y/z", 0),
])
def test_repo_search_matches_whole_names_in_any_case(staff_client, term, expected):
    seed(repos=12, audit=0)
    repo = ModelRepo.objects.get(namespace=org_slug(0), name=ModelRepo.objects.filter(
        namespace=org_slug(0)).values_list("name", flat=True).first())
    words = {"repo": repo.repo_id, "repo_upper": repo.repo_id.upper(), "owner": repo.namespace, "name": repo.name}
    found = staff_client.get(changelist(ModelRepo), {"q": term.format(**words)}).context["cl"].result_count
    counts = {"owner": ModelRepo.objects.filter(namespace=repo.namespace).count(),
              "name": ModelRepo.objects.filter(name__iexact=repo.name).count()}
    assert found == counts.get(expected, expected)


def test_commit_search_takes_an_abbreviated_id(staff_client):
    seed(repos=4, audit=0)
    commit = Commit.objects.first()
    for term in (commit.oid, commit.oid[:7], commit.oid[:12].upper()):
        cl = staff_client.get(changelist(Commit), {"q": term}).context["cl"]
        assert [c.pk for c in cl.result_list] == [commit.pk], term
    assert staff_client.get(changelist(Commit), {"q": commit.oid[:6]}).context["cl"].result_count == 0


def test_change_forms_never_list_every_row_of_a_big_table(staff_client):
    """Foreign keys to organisations, users and repos are autocompletes (or raw ids) or read-only on every change
    form: a select of 2,000 organisations (or 100,000 repos) is not a form."""
    seed(repos=60, audit=0)
    big = {Organization, ModelRepo, Commit, get_user_model()}
    for model, model_admin in admin.site._registry.items():
        request = staff_client.get(changelist(model)).wsgi_request
        if not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)):
            continue  # view-only: every field is shown as text
        readonly = set(model_admin.get_readonly_fields(request))
        widgets = set(model_admin.autocomplete_fields) | set(model_admin.raw_id_fields) | readonly
        for f in model._meta.get_fields():
            if isinstance(f, models.ForeignKey) and f.related_model in big and f.editable:
                form_fields = model_admin.get_fields(request)
                if f.name in form_fields:
                    assert f.name in widgets, f"{model.__name__}.{f.name} would be a select of every row"


@pytest.mark.parametrize("files", [5, 150])
def test_a_large_commit_page_shows_its_first_files_in_the_same_queries(staff_client, files,
                                                                       django_assert_max_num_queries):
    seed(repos=1, audit=0)
    repo = ModelRepo.objects.first()
    admin_user = repo.owner_org.memberships.get(role="admin").user
    commit = commit_create(actor=admin_user, repo=repo, title="many", operations=[
        AddInline(f"logs/eval-{n:03d}.json", b"{}") for n in range(files)])
    with django_assert_max_num_queries(12):
        page = staff_client.get(change(commit)).content.decode()
    shown = min(files + 3, 100)  # .gitattributes, README.md, config.json come first by path
    assert page.count('class="field-path"') == shown
    assert CommitFile.objects.filter(commit=commit).count() == files + 3


def test_seeded_superuser_can_open_the_audit_log(client, db):
    seed(repos=3, audit=50)
    client.force_login(get_user_model().objects.get(username=SEEDER))
    assert client.get(changelist(AuditEvent)).status_code == 200


# --- plans (PostgreSQL) -----------------------------------------------------------------------------------------


def _plan(sql: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        return cursor.fetchone()[0][0]["Plan"]


def _nodes(plan: dict) -> list[dict]:
    out = [plan]
    for child in plan.get("Plans", []):
        out += _nodes(child)
    return out


def _page_query(client, params: dict) -> str:  # noqa: ANN001
    """The SQL of the changelist's page of rows (the query with ORDER BY over the audit table)."""
    sqls = [s for s in queries_of(client, changelist(AuditEvent), params)
            if 'FROM "registry_auditevent"' in s and "ORDER BY" in s and "COUNT(" not in s]
    assert len(sqls) == 1, sqls
    return sqls[0]


def _analysed_catalogue() -> None:
    """Enough repos that one repo's or one user's events are a small share of 20,000 (as on a real hub, where
    each is a few in a million), so the planner has a real choice; statistics fresh."""
    seed(repos=400, audit=20000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE registry_auditevent")
        cursor.execute("ANALYZE registry_modelrepo")


@postgres_only
@pytest.mark.parametrize(("params", "index"), [
    ({}, "audit_created"),
    ({"action": "repo.delete"}, "audit_action_created"),
    ({"target_type": "modelrepo", "target_id": "{repo}"}, "audit_target_created"),
])
def test_audit_changelist_pages_come_from_an_index(staff_client, params, index):
    """The page is read from an index in its order: no sequential scan, no sort of the table."""
    _analysed_catalogue()
    repo = ModelRepo.objects.order_by("pk")[7]
    plan = _plan(_page_query(staff_client, {k: v.format(repo=repo.pk) for k, v in params.items()}))
    nodes = _nodes(plan)
    audit_scans = [n for n in nodes if n.get("Relation Name") == "registry_auditevent"]
    assert audit_scans and all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in audit_scans), \
        json.dumps(plan, indent=1)
    assert audit_scans[0]["Index Name"] == index
    assert not any(n["Node Type"] == "Sort" for n in nodes), json.dumps(plan, indent=1)


@postgres_only
def test_audit_search_uses_the_case_insensitive_indexes(staff_client):
    _analysed_catalogue()
    label = ModelRepo.objects.order_by("pk")[7].repo_id
    plan = _plan(_page_query(staff_client, {"q": label.upper()}))
    used = {n.get("Index Name") for n in _nodes(plan)}
    assert {"audit_actor_label_ci", "audit_target_label_ci"} <= used, json.dumps(plan, indent=1)
    assert not any(n["Node Type"] == "Seq Scan" for n in _nodes(plan)), json.dumps(plan, indent=1)


@postgres_only
def test_repo_search_uses_the_name_indexes(staff_client):
    _analysed_catalogue()
    sqls = [s for s in queries_of(staff_client, changelist(ModelRepo), {"q": "kestrel-7b-instruct"})
            if 'FROM "registry_modelrepo"' in s and "ORDER BY" in s and "COUNT(" not in s]
    assert len(sqls) == 1, sqls
    plan = _plan(sqls[0])
    used = {n.get("Index Name") for n in _nodes(plan)}
    assert {"uniq_repo_id_ci", "repo_name_ci"} <= used, json.dumps(plan, indent=1)
    assert not any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "registry_modelrepo"
                   for n in _nodes(plan)), json.dumps(plan, indent=1)
