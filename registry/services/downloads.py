"""Download counting: one download per snapshot, as the Hugging Face Hub counts them.

The caller decides which request counts (see selectors.hf.counts_as_download); this only bumps the
counter. It is a single UPDATE with an F expression — no row lock, no read-modify-write race, no
AuditEvent (a download changes no state anyone audits, and auditing every one would cost a row per
request on the hub's hottest route).
"""

from __future__ import annotations

from django.db.models import F

from registry.models import ModelRepo


def repo_download_record(*, repo_id: int) -> None:
    ModelRepo.objects.filter(pk=repo_id).update(downloads=F("downloads") + 1)
