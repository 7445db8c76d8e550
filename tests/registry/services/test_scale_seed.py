"""seed_scale: a realistic catalogue whose bulk rows are exactly what the services and the validation worker write;
valid, distinct names; idempotent and resumable; the derived-table hook sees every bulk row."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from registry.cards import card_summary, parse_card
from registry.models import (
    AuditEvent,
    Blob,
    Branch,
    Commit,
    CommitFile,
    ContentTensor,
    ContentVerdict,
    FileCheck,
    Job,
    License,
    LicenseAcceptance,
    Membership,
    ModelRepo,
    Organization,
    RepoBaseModel,
    RepoBlob,
    ValidationRun,
)
from registry.names import RESERVED_NAMESPACES, check_name, check_namespace
from registry.services import scale_seed as seeding
from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, AddInline, commit_create
from registry.services.licenses import license_accept
from registry.services.repos import repo_create
from registry.services.scale_seed import BIG_REPO_NAME, SEEDER, Plan, org_slug, repo_spec, scale_seed
from registry.services.validation import validation_run_create, validation_run_execute


def seed(repos: int = 6, files: int = 0, audit: int = 0) -> seeding.ScaleSeedReport:
    return scale_seed(repos=repos, files=files, audit=audit)


# --- what a repo looks like ------------------------------------------------------------------------------------


def _strip(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "reused"}


def snapshot(repo: ModelRepo) -> dict[str, Any]:
    """Everything the services and the worker leave for a repo, without ids, names, oids and times."""
    repo.refresh_from_db()
    commits = list(Commit.objects.filter(repo=repo).order_by("pk"))
    runs = {r.commit_id: r for r in ValidationRun.objects.filter(repo=repo)}
    oids = {c.oid: f"commit{n}" for n, c in enumerate(commits)}

    def events() -> list[tuple]:
        rows = AuditEvent.objects.filter(target_type="modelrepo", target_id=str(repo.pk)).order_by("pk")
        return [(e.action, e.actor_label, e.target_label == repo.repo_id, e.ip,
                 {k: oids.get(v, v) if k == "commit" else v for k, v in e.metadata.items()}) for e in rows]

    return {
        "repo": {f: getattr(repo, f) for f in (
            "private", "gating", "license_id", "disabled", "description", "card_data", "tags", "pipeline_tag",
            "library_name", "languages", "card_license", "parameter_count", "parameter_dtypes")},
        "branches": [(b.name, oids[b.head.oid]) for b in Branch.objects.filter(repo=repo)],
        "commits": [(c.title, c.message, c.author_name, c.author_id, oids.get(c.parent.oid) if c.parent else None)
                    for c in commits],
        "files": [[(f.path, f.size, f.git_oid, f.blob_id, bytes(f.content) if f.content is not None else None)
                   for f in CommitFile.objects.filter(commit=c).order_by("path")] for c in commits],
        "runs": [(runs[c.pk].status, runs[c.pk].summary, runs[c.pk].bytes_total, runs[c.pk].bytes_checked,
                  runs[c.pk].attempts, runs[c.pk].error, runs[c.pk].parameter_count, runs[c.pk].parameter_dtypes)
                 for c in commits],
        "tensor tables": [[list(ContentTensor.objects.filter(sha256=fc.sha256).order_by("ordinal").values_list(
            "ordinal", "name", "dtype", "shape", "nbytes")) for fc in runs[c.pk].files.order_by("path")]
            for c in commits],
        "file checks": [[(fc.path, fc.sha256, fc.size, fc.status, fc.checks, _strip(fc.summary))
                         for fc in runs[c.pk].files.order_by("path")] for c in commits],
        "events": events(),
        "acceptances": [(a.user_id, a.license_id, a.license_version, a.status, a.answers, a.ip,
                         a.decided_at is None) for a in LicenseAcceptance.objects.filter(repo=repo).order_by("pk")],
        "lineage": list(RepoBaseModel.objects.filter(repo=repo).order_by("position")
                        .values_list("position", "base_id", "base_key", "relation")),
    }


def through_services(*, actor: Any, namespace: str, name: str, files: dict[str, bytes], title: str,
                     private: bool, gating: str, license: License | None, ip: str | None) -> ModelRepo:
    """A repo made as the hub makes one (repo_create, then one commit), validated by the worker the way the hub
    would: the first commit's run before the second commit."""
    repo = repo_create(actor=actor, namespace=namespace, name=name, private=private, gating=gating,
                       license=license, ip=ip)
    validate(repo)
    commit_create(actor=actor, repo=repo, title=title, ip=ip,
                  operations=[AddInline(path, content) for path, content in files.items()])
    validate(repo)
    return repo


def twin(source: ModelRepo, namespace: str) -> ModelRepo:
    """`source` made again through the services in another namespace."""
    actor = get_user_model().objects.get(pk=source.commits.order_by("pk").first().author_id)
    second = Commit.objects.get(repo=source, parent__isnull=False)
    files = {f.path: bytes(f.content) for f in CommitFile.objects.filter(commit=second).exclude(
        path=".gitattributes")}
    created = AuditEvent.objects.get(action="repo.create", target_id=str(source.pk))
    repo = through_services(actor=actor, namespace=namespace, name=source.name, files=files, title=second.title,
                            private=source.private, gating=source.gating, ip=created.ip,
                            license=None if source.license_from_card else source.license)  # the card sets it
    for acceptance in LicenseAcceptance.objects.filter(repo=source).order_by("pk"):
        license_accept(user=acceptance.user, repo=repo, ip=acceptance.ip)
    return repo


def validate(repo: ModelRepo) -> None:
    for commit in Commit.objects.filter(repo=repo).order_by("pk"):
        run = validation_run_create(commit=commit, queue=False)
        if not run.is_finished:
            validation_run_execute(run_id=run.pk)


@pytest.fixture
def twin_namespace(db):  # noqa: ANN001, ANN201
    """An organisation whose admin is the seeded repos' author (the first organisation's admin)."""
    def make() -> str:
        org = Organization.objects.create(slug="twin-org", name="Twin")
        admin = Membership.objects.get(organization__slug=org_slug(0), role="admin").user
        Membership.objects.create(user=admin, organization=org, role=Membership.Role.ADMIN)
        return org.slug
    return make


def _gated_and_open() -> list[ModelRepo]:
    repos = list(ModelRepo.objects.filter(namespace=org_slug(0)).order_by("pk"))
    gated = next(r for r in repos if r.gating != "none")
    return [repos[0], gated]


def test_a_bulk_repo_is_what_the_services_and_the_worker_make(twin_namespace):
    """Bulk first: the twin made through the services afterwards matches it row for row, and the worker reuses the
    verdicts the bulk path wrote (they are verdicts it accepts as its own)."""
    seed(repos=40)
    namespace = twin_namespace()
    verdicts = ContentVerdict.objects.count()
    for bulk in _gated_and_open():
        made = twin(bulk, namespace)
        assert snapshot(made) == snapshot(bulk)
        readme = FileCheck.objects.get(run__commit__repo=made, path="README.md")
        assert readme.summary.get("reused") is True
    assert ContentVerdict.objects.count() == verdicts  # nothing judged twice


def test_a_bulk_fine_tune_has_the_lineage_rows_and_tags_the_commit_service_writes(twin_namespace):
    """A seeded repo whose card names a base model: its lineage rows (and base_model tags) are those a commit of
    the same card writes through the services."""
    seed(repos=40)
    bulk = next(r for r in ModelRepo.objects.filter(namespace=org_slug(0)).order_by("pk")
                if r.card_data.get("base_model") and r.gating == "none")
    base = bulk.card_data["base_model"]
    assert f"base_model:finetune:{base}" in bulk.tags
    assert list(RepoBaseModel.objects.filter(repo=bulk).values_list("base_id", "relation")) == [(base, "finetune")]
    made = twin(bulk, twin_namespace())
    assert snapshot(made) == snapshot(bulk)


def test_the_bulk_path_reuses_what_the_worker_judged(twin_namespace):
    """Worker first: the content of a repo the seed is about to write, made through the services and validated by
    the worker; the seed's rows for it then match and reuse the worker's verdicts."""
    plan = Plan(repos=40, files=0, audit=0)
    spec = next(s for s in (repo_spec(plan, i, timezone.now()) for i in range(1, 40)) if s.gating == "none")
    seed(repos=1)  # the people, and repo 0
    made = through_services(
        actor=get_user_model().objects.get(username=seeding.username(spec.author)), namespace=twin_namespace(),
        name=spec.name, files={"README.md": spec.readme, "config.json": spec.config}, title=spec.title,
        private=spec.private, gating=spec.gating, ip=spec.ip,
        license=License.objects.get(slug=spec.license_slug) if spec.license_slug else None)
    seed(repos=40)
    bulk = ModelRepo.objects.get(namespace=spec.namespace.slug, name=spec.name)
    assert snapshot(bulk) == snapshot(made)
    readme = FileCheck.objects.get(run__commit__repo=bulk, path="README.md")
    assert readme.summary.get("reused") is True


def test_cards_give_back_the_metadata_the_repo_caches():
    plan = Plan(repos=2000, files=0, audit=0)
    now = timezone.now()
    for i in range(0, 2000, 7):
        spec = repo_spec(plan, i, now)
        card = parse_card(spec.readme.decode())
        assert card.data == spec.card
        assert card_summary(card.body)


def test_names_are_valid_and_distinct_in_any_case():
    plan = Plan(repos=20000, files=0, audit=0)
    now = timezone.now()
    ids = [(s.namespace.slug.lower(), s.name.lower()) for s in (repo_spec(plan, i, now) for i in range(20000))]
    assert len(set(ids)) == len(ids)
    for namespace, name in set(ids):
        check_namespace(namespace)
        check_name(name)
    orgs = {seeding.org_slug(k).lower() for k in range(plan.orgs)}
    users = {seeding.username(k).lower() for k in range(plan.users)}
    assert len(orgs) == plan.orgs and len(users) == plan.users
    assert not orgs & users and not (orgs | users) & RESERVED_NAMESPACES
    sizes = Counter(namespace for namespace, _name in ids)
    assert sizes.most_common(1)[0][0] == org_slug(0)  # the largest organisation comes first
    assert sum(1 for n in sizes if n in users) >= 100  # some repos live in users' namespaces


def test_a_catalogue_has_the_mix_a_hub_has(db):
    seed(repos=300, audit=2000)
    repos = ModelRepo.objects.all()
    assert repos.count() == 300
    assert Organization.objects.count() == 6
    share = {k: repos.filter(**q).count() / 300 for k, q in (
        ("private", {"private": True}), ("gated", {"gating__in": ["auto", "manual"]}),
        ("user", {"owner_user__isnull": False}))}
    assert 0.02 < share["private"] < 0.2 and 0.03 < share["gated"] < 0.25 and 0.05 < share["user"] < 0.2
    assert len(set(repos.values_list("pipeline_tag", flat=True))) >= 5
    assert len(set(repos.values_list("card_license", flat=True))) >= 5
    assert repos.filter(downloads=0).exists() and repos.filter(downloads__gt=1000).exists()
    assert all(Branch.objects.get(repo=r, name="main").head.files.count() == 3 for r in repos[:20])
    assert not Job.objects.exists()  # older than the week the job sweep keeps finished jobs
    assert not ValidationRun.objects.exclude(status__in=["passed", "warning"]).exists()
    assert AuditEvent.objects.count() == 2000
    assert len(set(AuditEvent.objects.values_list("action", flat=True))) >= 12
    assert len(set(AuditEvent.objects.values_list("actor_label", flat=True))) >= 10
    oldest = AuditEvent.objects.order_by("created_at").first().created_at
    assert timezone.now() - oldest > timedelta(days=300)
    admin = get_user_model().objects.get(username=SEEDER)
    assert admin.is_superuser and admin.is_staff and not admin.has_usable_password()


def test_the_big_repo_goes_through_the_services_and_is_validated(db, local_store):
    report = seed(repos=3, files=450)
    repo = ModelRepo.objects.get(namespace=org_slug(0), name=BIG_REPO_NAME)
    head = Branch.objects.get(repo=repo, name="main").head
    paths = list(CommitFile.objects.filter(commit=head).values_list("path", flat=True))
    assert len(paths) == 450 + 1  # and .gitattributes
    folders = {p.split("/")[0] for p in paths if "/" in p}
    assert len(folders) == 4
    blobs = Blob.objects.filter(commit_files__commit=head)
    assert blobs.count() == len(folders) == report.created["blobs"]
    assert all(b.state == Blob.State.VERIFIED for b in blobs)
    assert RepoBlob.objects.filter(repo=repo).count() == len(folders)
    run = ValidationRun.objects.get(commit=head)
    assert run.status in ("passed", "warning") and run.bytes_checked == run.bytes_total
    assert not run.files.exclude(status__in=["passed", "warning"]).exists()
    assert repo.description.startswith("Checkpoints and evaluation logs")


def test_the_big_repo_is_validated_as_the_worker_would(db, local_store, twin_namespace):
    """`_finish_run` (the big repo's bulk validation) against validation_run_execute on the same content."""
    seed(repos=1)
    namespace = twin_namespace()
    actor = Membership.objects.get(organization__slug=namespace, role="admin").user
    repos = []
    for owner, name in ((org_slug(0), "bulk-checked"), (namespace, "bulk-checked")):
        repo = repo_create(actor=actor, namespace=owner, name=name)
        blob = blob_ingest_stream(stream=io.BytesIO(seeding._tiny_safetensors(0, 1)), repo=repo, actor=actor)
        commit_create(actor=actor, repo=repo, title="files", operations=[
            AddInline("README.md", b"# hi\n\nA model.\n"), AddInline("config.json", b'{"model_type": "llama"}'),
            AddInline("step-1/eval.json", b'{"loss": 1}'), AddInline("step-1/notes.txt", b"\xff\xfe not utf-8"),
            AddBlob("step-1/model.safetensors", blob.sha256, blob.size)])
        repos.append(repo)
    report = seeding.ScaleSeedReport()
    for commit in Commit.objects.filter(repo=repos[0]).order_by("pk"):
        seeding._finish_run(validation_run_create(commit=commit, queue=False), report)
    validate(repos[1])
    bulk, worker = snapshot(repos[0]), snapshot(repos[1])
    for key in ("repo", "runs", "file checks", "files"):
        assert bulk[key] == worker[key], key


def test_seeding_twice_changes_nothing(db):
    seed(repos=30, audit=500)
    counts = {m: m.objects.count() for m in (ModelRepo, Commit, CommitFile, AuditEvent, ValidationRun)}
    report = seed(repos=30, audit=500)
    assert report.already_seeded
    assert {m: m.objects.count() for m in counts} == counts


def test_an_interrupted_seed_finishes_when_run_again(db, monkeypatch):
    monkeypatch.setattr(seeding, "BATCH", 10)
    real = seeding._write_repos
    calls = []

    def fail_on_third(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(seeding, "_write_repos", fail_on_third)
    with pytest.raises(RuntimeError):
        seed(repos=45)
    assert ModelRepo.objects.count() == 20  # two whole batches; the third rolled back
    monkeypatch.setattr(seeding, "_write_repos", real)
    report = seed(repos=45)
    assert report.skipped_batches == 2
    assert ModelRepo.objects.count() == 45 and Commit.objects.count() == 90
    assert ValidationRun.objects.count() == 90


def test_the_derived_tables_hook_gets_every_bulk_row(db, local_store, monkeypatch):
    seen = []
    monkeypatch.setattr(seeding, "DERIVED_REBUILDS", [lambda **ids: seen.append(ids)])
    seed(repos=12, files=120)
    assert len(seen) == 1
    assert sorted(seen[0]["repo_ids"]) == sorted(ModelRepo.objects.values_list("pk", flat=True))
    bulk_commits = Commit.objects.exclude(repo__name=BIG_REPO_NAME)
    assert sorted(seen[0]["commit_ids"]) == sorted(bulk_commits.values_list("pk", flat=True))


# --- the command ------------------------------------------------------------------------------------------------


def test_command_refuses_outside_debug_without_force(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_scale", "--repos", "3", "--files", "0", "--audit", "0", stdout=io.StringIO())
    assert not ModelRepo.objects.exists()


def test_command_seeds_and_says_how_fast(db, settings):
    settings.DEBUG = False
    out = io.StringIO()
    call_command("seed_scale", "--repos", "5", "--files", "0", "--audit", "50", "--force", stdout=out)
    assert ModelRepo.objects.count() == 5
    assert "rows/s" in out.getvalue()
    again = io.StringIO()
    call_command("seed_scale", "--repos", "5", "--files", "0", "--audit", "50", "--force", stdout=again)
    assert "Already seeded" in again.getvalue()


def test_command_refuses_negative_sizes(db, settings):
    settings.DEBUG = True
    with pytest.raises(CommandError, match="--repos"):
        call_command("seed_scale", "--repos", "-1", stdout=io.StringIO())


def test_bulk_commits_get_the_folders_and_catalogue_counts_the_services_would_write(db, local_store):
    """The derived tables after a bulk seed: each bulk commit's folder rows as commit_create writes them, and facet
    counts equal to a rebuild from scratch (so lists, trees and filters work on a seeded catalogue)."""
    from registry.git_objects import commit_header, object_id
    from registry.models import CatalogueFacet, CommitDir
    from registry.services.catalogue import catalogue_rebuild
    from registry.tree_index import folders_of

    seed(repos=12, files=120)
    bulk = list(Commit.objects.exclude(repo__name=BIG_REPO_NAME))
    assert bulk
    for commit in bulk:
        files = commit.files.values_list("path", "git_oid", "size")
        expected = {(f.path, f.parent, f.oid, f.files, f.size) for f in folders_of(files)}
        stored = set(CommitDir.objects.filter(commit=commit).values_list("path", "parent", "oid", "files", "size"))
        assert stored == expected and ("", "") == next((p, q) for p, q, *_ in stored if p == "")
        # A real git commit (issue 21): its id hashes its body, which names the root tree and the parent.
        root = next(oid for p, _q, oid, *_ in stored if p == "")
        assert object_id("commit", bytes(commit.raw)) == commit.oid
        assert commit_header(bytes(commit.raw)) == (root, [commit.parent.oid] if commit.parent else [])
    counts = dict(((f.kind, f.value), f.count) for f in CatalogueFacet.objects.all())
    assert counts[("all", "")] == ModelRepo.objects.filter(private=False).count()
    catalogue_rebuild()
    assert counts == {(f.kind, f.value): f.count for f in CatalogueFacet.objects.all()}


def test_rebuilding_many_commits_equals_rebuilding_each(db, local_store):
    from registry.models import CommitDir
    from registry.services.trees import commit_dirs_rebuild, commit_dirs_rebuild_many

    seed(repos=8, files=0)
    commits = list(Commit.objects.all())
    commit_dirs_rebuild_many(commit_ids=[c.pk for c in commits])
    together = set(CommitDir.objects.values_list("commit_id", "path", "parent", "oid", "files", "size"))
    for commit in commits:
        commit_dirs_rebuild(commit=commit)
    assert set(CommitDir.objects.values_list("commit_id", "path", "parent", "oid", "files", "size")) == together
