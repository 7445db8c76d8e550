"""Pull requests as read: what a PR changes against its target, conflicts, the diff.

INTERFACE FIRST (being filled in on the `pulls` branch): the discussions API and the portal call these two
functions and nothing else of PRs, so the two sides can be built at once.
"""

from __future__ import annotations

from typing import Any

from registry.models import Discussion


def pr_details_extra(discussion: Discussion, *, with_diff: bool = False) -> dict[str, Any]:
    """The PR-only keys of the HF details object: `changes`, `filesWithConflicts` and (with_diff) `diff`."""
    changes: dict[str, Any] = {"base": f"refs/heads/{discussion.target_branch}"}
    if discussion.merge_commit_oid:
        changes["mergeCommitId"] = discussion.merge_commit_oid
    extra: dict[str, Any] = {"changes": changes, "filesWithConflicts": []}
    if with_diff:
        extra["diff"] = ""
    return extra


def pr_page_context(discussion: Discussion, *, viewer: Any) -> dict[str, Any]:
    """What the portal's PR view shows beside the thread: changed files with diffs, conflicts, whether the viewer
    may merge (template: portal/community/_pull_request.html)."""
    return {"pr_files": [], "pr_conflicts": [], "pr_can_merge": False}
