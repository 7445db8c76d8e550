"""A catalogue at scale for benchmarks and CI (registry/services/scale_seed.py): N repos in N/50 organisations,
one repo of M files, K audit events. Resumable and idempotent; refuses outside DEBUG unless --force.

    manage.py seed_scale --repos 100000 --files 20000 --audit 1000000
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from registry.services.scale_seed import scale_seed


class Command(BaseCommand):
    help = "Seed a realistic catalogue at scale: --repos N --files M --audit K (DEBUG only unless --force)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--repos", type=int, default=1000, help="repos in the catalogue (default 1000)")
        parser.add_argument("--files", type=int, default=2000,
                            help="files of the one big repo, in ~files/100 folders (default 2000; 0: none)")
        parser.add_argument("--audit", type=int, default=10000,
                            help="audit events in all, the services' own included (default 10000)")
        parser.add_argument("--seed", type=int, default=0, help="variant of the generated names and history")
        parser.add_argument("--force", action="store_true", help="allow outside DEBUG")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        if not settings.DEBUG and not options["force"]:
            raise CommandError("scale data is for benchmarks and DEBUG/embedded mode; pass --force to seed anyway")
        for name in ("repos", "files", "audit"):
            if options[name] < 0:
                raise CommandError(f"--{name} must not be negative")
        started = time.perf_counter()
        report = scale_seed(repos=options["repos"], files=options["files"], audit=options["audit"],
                            seed=options["seed"], log=lambda line: self.stdout.write(f"  {line}"))
        seconds = time.perf_counter() - started
        if report.already_seeded:
            self.stdout.write(self.style.SUCCESS("Already seeded: nothing to do."))
            return
        for table, count in sorted(report.created.items()):
            self.stdout.write(f"  {table}: {count:,}")
        self.stdout.write(self.style.SUCCESS(
            f"Seeded {report.rows:,} rows in {seconds:.1f}s ({report.rows / max(seconds, 1e-9):,.0f} rows/s)."))
