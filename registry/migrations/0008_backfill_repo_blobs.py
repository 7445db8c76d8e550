"""Every (repo, blob) pair a commit of the repo already references gets its RepoBlob row, so that commits and
downloads that worked before the authority rule keep working (registry/models/uploads.py)."""

from django.db import migrations

BATCH = 2000


def backfill(apps, schema_editor):  # noqa: ANN001, ANN201
    CommitFile = apps.get_model("registry", "CommitFile")  # noqa: N806
    RepoBlob = apps.get_model("registry", "RepoBlob")  # noqa: N806
    pairs = (CommitFile.objects.filter(blob__isnull=False).order_by()
             .values_list("commit__repo_id", "blob_id").distinct())
    rows = []
    for repo_id, blob_id in pairs.iterator(chunk_size=BATCH):
        rows.append(RepoBlob(repo_id=repo_id, blob_id=blob_id, source="backfill"))
        if len(rows) >= BATCH:
            RepoBlob.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    if rows:
        RepoBlob.objects.bulk_create(rows, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("registry", "0007_repo_blob_authority")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
