"""python manage.py verify_release SNAPSHOT_DIR --manifest FILE --signature FILE [--public-key FILE | --hub URL]"""

from __future__ import annotations

import urllib.request
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.release_verify import verify_snapshot


class Command(BaseCommand):
    help = ("Check a downloaded snapshot against a release manifest and its Ed25519 signature. Exits non-zero "
            "and names every missing, changed or extra file, or a manifest whose signature doesn't verify.")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("snapshot", type=Path, help="the downloaded snapshot directory")
        parser.add_argument("--manifest", type=Path, required=True, help="…/releases/{version}/manifest")
        parser.add_argument("--signature", type=Path, required=True, help="…/releases/{version}/manifest.sig")
        key = parser.add_mutually_exclusive_group(required=True)
        key.add_argument("--public-key", type=Path, help="the hub's public key (PEM)")
        key.add_argument("--hub", help="fetch the key from HUB/.well-known/release-signing-key")
        parser.add_argument("--allow-extra", action="store_true", help="don't report files the release lacks")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        if not options["snapshot"].is_dir():
            raise CommandError(f"{options['snapshot']} is not a directory")
        if options["public_key"]:
            public_pem = options["public_key"].read_bytes()
        else:
            url = options["hub"].rstrip("/") + "/.well-known/release-signing-key"
            if not url.startswith(("http://", "https://")):
                raise CommandError("--hub must be an http(s) URL")
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - scheme checked above
                public_pem = response.read()
        report = verify_snapshot(manifest=options["manifest"].read_bytes(),
                                 signature_b64=options["signature"].read_text(), public_pem=public_pem,
                                 directory=options["snapshot"], allow_extra=options["allow_extra"])
        for problem in report.problems:
            self.stderr.write(f"FAIL {problem}")
        if not report.ok:
            raise CommandError(f"the snapshot does not match the signed release ({len(report.problems)} problem(s))")
        self.stdout.write(f"OK: signature valid, {report.checked} file(s) match the manifest")
