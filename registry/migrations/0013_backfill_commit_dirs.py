"""Existing commits get their folder rows (CommitDir) and each nested file its `parent`, as new commits do
(registry.services.trees). In batches, each in its own transaction, so memory stays bounded (one commit's paths at
a time) and a large table is never held in one transaction; rerunning it finishes what an interrupted run left."""

from django.db import migrations, transaction
from django.db.models import Max, Min

from registry.tree_index import folders_of, parent_expression

FILE_ID_BATCH = 50_000  # CommitFile ids per UPDATE
COMMIT_BATCH = 500  # commits looked at per query
INSERT_BATCH = 1000


def backfill(apps, schema_editor):  # noqa: ANN001, ANN201
    db = schema_editor.connection.alias
    CommitFile = apps.get_model("registry", "CommitFile")  # noqa: N806
    CommitDir = apps.get_model("registry", "CommitDir")  # noqa: N806
    Commit = apps.get_model("registry", "Commit")  # noqa: N806
    files = CommitFile.objects.using(db)
    bounds = files.aggregate(low=Min("id"), high=Max("id"))
    if bounds["low"] is not None:
        for start in range(bounds["low"], bounds["high"] + 1, FILE_ID_BATCH):
            with transaction.atomic(using=db):
                (files.filter(id__gte=start, id__lt=start + FILE_ID_BATCH, path__contains="/")
                 .update(parent=parent_expression()))
    last = 0
    while True:
        ids = list(Commit.objects.using(db).filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)
                   [:COMMIT_BATCH])
        if not ids:
            break
        done = set(CommitDir.objects.using(db).filter(commit_id__in=ids).values_list("commit_id", flat=True))
        for commit_id in ids:
            if commit_id in done:
                continue
            rows = (files.filter(commit_id=commit_id).order_by().values_list("path", "git_oid", "size")
                    .iterator(chunk_size=INSERT_BATCH))
            folders = folders_of(rows)
            with transaction.atomic(using=db):
                CommitDir.objects.using(db).bulk_create(
                    (CommitDir(commit_id=commit_id, path=f.path, parent=f.parent, oid=f.oid, files=f.files,
                               size=f.size) for f in folders),
                    batch_size=INSERT_BATCH)
        last = ids[-1]


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("registry", "0012_commit_dirs")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
