"""Existing commits become git commits (registry.git_objects): each folder row gets its git tree id, each commit the
git commit object built from its tree, parent, author, time and message, and the id that object hashes to. The old
id is kept as a CommitAlias of the repo, so revisions pinned to it still resolve; pull requests' base and merge ids
and their commit events follow.

Parents first (ascending pk: a parent row always exists before its child), each commit in its own transaction, so
memory stays bounded (one commit's paths) and a rerun finishes what an interrupted run left (a migrated commit has
its `raw`). On a hub with many commits this reads every commit's files once: minutes per hundred thousand commits.
"""

from django.db import migrations, transaction

from registry.git_objects import commit_body, commit_message, hub_signature, object_id
from registry.tree_index import folders_of

COMMIT_BATCH = 500
INSERT_BATCH = 1000


def backfill(apps, schema_editor):  # noqa: ANN001, ANN201
    db = schema_editor.connection.alias
    Commit = apps.get_model("registry", "Commit")  # noqa: N806
    CommitAlias = apps.get_model("registry", "CommitAlias")  # noqa: N806
    CommitDir = apps.get_model("registry", "CommitDir")  # noqa: N806
    CommitFile = apps.get_model("registry", "CommitFile")  # noqa: N806
    Discussion = apps.get_model("registry", "Discussion")  # noqa: N806
    DiscussionEvent = apps.get_model("registry", "DiscussionEvent")  # noqa: N806
    commits = Commit.objects.using(db)
    last = 0
    while True:
        batch = list(commits.filter(pk__gt=last, raw__isnull=True).order_by("pk")
                     .values_list("pk", "repo_id", "parent_id", "oid", "author_name", "title", "message", "created_at")
                     [:COMMIT_BATCH])
        if not batch:
            break
        for pk, repo_id, parent_id, old_oid, author_name, title, message, created_at in batch:
            rows = (CommitFile.objects.using(db).filter(commit_id=pk).order_by()
                    .values_list("path", "git_oid", "size").iterator(chunk_size=INSERT_BATCH))
            folders = folders_of(rows)
            root = next(f.oid for f in folders if f.path == "")
            parents = [] if parent_id is None else [commits.filter(pk=parent_id).values_list("oid", flat=True)[0]]
            when = int(created_at.timestamp())
            for later in range(3600):
                signature = hub_signature(author_name, when)
                body = commit_body(tree=root, parents=parents, author=signature,
                                   committer=hub_signature(author_name, when + later),
                                   message=commit_message(title, message))
                oid = object_id("commit", body)
                if not commits.filter(repo_id=repo_id, oid=oid).exclude(pk=pk).exists():
                    break
            with transaction.atomic(using=db):
                CommitDir.objects.using(db).filter(commit_id=pk).delete()
                CommitDir.objects.using(db).bulk_create(
                    (CommitDir(commit_id=pk, path=f.path, parent=f.parent, oid=f.oid, files=f.files, size=f.size)
                     for f in folders), batch_size=INSERT_BATCH)
                commits.filter(pk=pk).update(oid=oid, raw=body)
                if old_oid != oid:
                    CommitAlias.objects.using(db).get_or_create(repo_id=repo_id, old_oid=old_oid,
                                                                defaults={"commit_id": pk})
                    Discussion.objects.using(db).filter(repo_id=repo_id, base_oid=old_oid).update(base_oid=oid)
                    Discussion.objects.using(db).filter(repo_id=repo_id, merge_commit_oid=old_oid).update(
                        merge_commit_oid=oid)
                    for event in DiscussionEvent.objects.using(db).filter(
                            discussion__repo_id=repo_id, type="commit", data__oid=old_oid):
                        event.data = {**event.data, "oid": oid}
                        event.save(update_fields=["data"])
        last = batch[-1][0]


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("registry", "0031_git_commit_ids")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
