"""Recompute the catalogue's derived data (facet counts, search documents) from the repos."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from registry.services.catalogue import catalogue_rebuild


class Command(BaseCommand):
    help = ("Recompute the list pages' facet counts (and, on PostgreSQL, the repos' search documents) from the repos: "
            "after bulk inserts, or changes made behind the services' back.")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        facets = catalogue_rebuild()
        self.stdout.write(f"Catalogue rebuilt: {facets} facet values.")
