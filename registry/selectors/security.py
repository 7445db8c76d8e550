"""A revision's security status, from the hub's own verdicts: what model_info(securityStatus=True) answers as
`securityRepoStatus`, so a script can refuse a repo before downloading it.

Every file of the commit is judged by the verdict on its content (ContentVerdict: by sha256 for blob files, by git
blob id for inline ones — the verdicts /resolve quarantines by) and by its stored bytes (a blob that failed
verification is refused too). The commit's validation run says whether the scan is done and adds its repo-level
findings (sharded checkpoints, files kept from history…).
"""

from __future__ import annotations

from typing import Any

from registry.models import VALIDATION_FINISHED, Blob, Commit, CommitFile, ValidationRun
from registry.selectors.validation import content_verdicts
from registry.validation.types import FAILED, WARNING

LEVELS = {FAILED: "unsafe", WARNING: "suspicious"}


def _reasons(checks: Any, status: str, fallback: str) -> list[str]:
    found = [str(c.get("message") or c.get("name")) for c in checks or []
             if isinstance(c, dict) and c.get("status") == status]
    return found or ([fallback] if fallback else [])


def security_status(*, commit: Commit) -> dict[str, Any]:
    """`securityRepoStatus` of the commit:

    * `scansDone`: its validation run has finished; `validationStatus` that run's status (null: never queued);
    * `scannedFiles` of `totalFiles`: files whose content has a verdict;
    * `filesWithIssues`: `{path, level: "unsafe"|"suspicious", reasons}` — unsafe files are refused by /resolve
      and listed in `quarantinedFiles` too;
    * `repoIssues`: the run's repo-level checks that did not pass (`{name, level, reason}`).

    A query for the files, one for the run, one per VERDICT_CHUNK files for the verdicts (`content_verdicts`: the
    same rule as /resolve's quarantine).
    """
    run = ValidationRun.objects.filter(commit=commit).values("status", "summary").first()
    files = list(CommitFile.objects.filter(commit=commit).order_by("path")
                 .values_list("path", "git_oid", "blob__sha256", "blob__state", "blob__rejected_reason"))
    verdict_of = content_verdicts((sha, oid) for _p, oid, sha, _s, _r in files)
    scanned = 0
    issues: list[dict[str, Any]] = []
    quarantined: list[str] = []
    for path, git_oid, sha, blob_state, rejected in files:
        verdict = verdict_of(sha, git_oid)
        if blob_state == Blob.State.REJECTED:
            scanned += 1
            issues.append({"path": path, "level": "unsafe",
                           "reasons": [f"the stored bytes failed verification: {rejected}"]})
            quarantined.append(path)
            continue
        if verdict is None:
            continue
        scanned += 1
        status, reason, checks = verdict
        if status in LEVELS:
            issues.append({"path": path, "level": LEVELS[status],
                           "reasons": _reasons(checks, status, reason or "the file failed validation")})
            if status == FAILED:
                quarantined.append(path)
    summary = (run or {}).get("summary") or {}
    repo_issues = [{"name": c.get("name"), "level": LEVELS[c["status"]], "reason": c.get("message") or ""}
                   for c in summary.get("checks") or [] if isinstance(c, dict) and c.get("status") in LEVELS]
    return {
        "scansDone": run is not None and run["status"] in VALIDATION_FINISHED,
        "validationStatus": run["status"] if run else None,
        "scannedFiles": scanned,
        "totalFiles": len(files),
        "filesWithIssues": issues,
        "quarantinedFiles": quarantined,
        "repoIssues": repo_issues,
    }
