"""Repos whose card names base models or datasets get the lineage rows (RepoBaseModel) and derived tags
(`base_model:…`, `dataset:…`) that new commits give them (registry.lineage, registry.cards.card_fields), the
relation inferred from their main branch's files where the card gives none. In batches of repos, each in its own
transaction; rerunning it changes nothing. Derived tags are not tag facets, so the facet counts stay as they are; on
PostgreSQL the changed repos' search documents are refreshed."""

from django.db import migrations, transaction
from django.db.models import Q

from registry.cards import card_fields
from registry.lineage import QUANTIZED_SUFFIXES, card_lineage, is_relation_hint
from registry.models.catalogue import search_document

REPO_BATCH = 500


def backfill(apps, schema_editor):  # noqa: ANN001, ANN201
    db = schema_editor.connection.alias
    ModelRepo = apps.get_model("registry", "ModelRepo")  # noqa: N806
    RepoBaseModel = apps.get_model("registry", "RepoBaseModel")  # noqa: N806
    Branch = apps.get_model("registry", "Branch")  # noqa: N806
    CommitFile = apps.get_model("registry", "CommitFile")  # noqa: N806
    hint_paths = Q(path__in=["adapter_config.json", "quantize_config.json"])
    for suffix in QUANTIZED_SUFFIXES:
        hint_paths |= Q(path__iendswith=suffix)
    last = 0
    while True:
        rows = list(ModelRepo.objects.using(db).filter(pk__gt=last).order_by("pk")
                    .values_list("pk", "card_data", "tags")[:REPO_BATCH])
        if not rows:
            break
        last = rows[-1][0]
        wanted = [(pk, data, tags) for pk, data, tags in rows
                  if isinstance(data, dict) and ("base_model" in data or "datasets" in data)]
        if not wanted:
            continue
        heads = dict(Branch.objects.using(db).filter(repo_id__in=[pk for pk, _d, _t in wanted], name="main")
                     .values_list("repo_id", "head_id"))
        hints: dict[int, list[str]] = {}
        for commit_id, path in (CommitFile.objects.using(db).filter(hint_paths, commit_id__in=list(heads.values()))
                                .values_list("commit_id", "path")):
            if is_relation_hint(path):
                hints.setdefault(commit_id, []).append(path)
        with transaction.atomic(using=db):
            changed = []
            for pk, data, tags in wanted:
                paths = hints.get(heads.get(pk), [])
                new_tags = card_fields(data, paths=paths)["tags"]
                if new_tags != tags:
                    ModelRepo.objects.using(db).filter(pk=pk).update(tags=new_tags)
                    changed.append(pk)
                lineage = card_lineage(data, paths)
                RepoBaseModel.objects.using(db).filter(repo_id=pk).delete()
                if lineage is not None:
                    RepoBaseModel.objects.using(db).bulk_create(
                        RepoBaseModel(repo_id=pk, position=i, base_id=base, base_key=base.lower(),
                                      relation=lineage.relation) for i, base in enumerate(lineage.bases))
            if changed and schema_editor.connection.vendor == "postgresql":
                ModelRepo.objects.using(db).filter(pk__in=changed).update(search_vector=search_document())


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("registry", "0018_lineage")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
