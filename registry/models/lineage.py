"""Model lineage as data: one row per base model a repo's card names (registry.lineage derives them).

Written by the commit service in the transaction of every change to the default branch's card (or to the files a
relation is inferred from), by the bulk seeder alongside the repos it inserts, and by migration 0017 for repos made
before. The base is kept as an id, not a foreign key: it may be a model on another hub, or one made, renamed or
deleted here after the card was written; pages resolve it when they show it (and link it only for viewers who may
see it).

Children of a model are the rows whose `base_key` is its id in lower case: the index (base_key, relation, repo)
answers "how many fine-tunes of X" and "list the adapters of X" with an index range, and visibility is applied per
viewer by joining the child repos (registry.selectors.lineage), so a private child never counts for an outsider.
"""

from __future__ import annotations

from django.db import models

from registry.lineage import RELATIONS

REPO_ID_MAX_LENGTH = 193  # two names of 96 and the slash


class RepoBaseModel(models.Model):
    Relation = models.TextChoices("Relation", [(r.upper(), r) for r in RELATIONS])

    repo = models.ForeignKey("registry.ModelRepo", on_delete=models.CASCADE, related_name="base_model_rows")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in the card's base_model list.")
    base_id = models.CharField(max_length=REPO_ID_MAX_LENGTH, help_text="The base model's id as the card writes it.")
    base_key = models.CharField(max_length=REPO_ID_MAX_LENGTH, help_text="base_id in lower case: what is matched.")
    relation = models.CharField(max_length=16, choices=Relation.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "base_key"], name="uniq_repo_base_model")]
        indexes = [models.Index(fields=["base_key", "relation", "repo"], name="repo_base_model_children")]
        ordering = ["repo", "position"]

    def __str__(self) -> str:
        return f"{self.repo_id} {self.relation} of {self.base_id}"
