"""The audit vocabulary: every action a service records is one the admin's action filter offers."""

from __future__ import annotations

import re
from pathlib import Path

import registry
from registry.services.audit import AUDIT_ACTIONS, AUDIT_TARGET_TYPES

SOURCE = Path(registry.__file__).parent
# action="repo.create"; action=f"license.{'approve' if approve else 'reject'}"; action=f"release.{decision}"
LITERAL = re.compile(r'action="([a-z_]+\.[a-z_]+)"')
FORMATTED = re.compile(r'action=f"([a-z_]+)\.\{([^}]*)\}"')
# The values the formatted ones take (ReleaseDecision.Decision for releases).
FORMATTED_VALUES = {"license": {"approve", "reject"}, "release": {"approve", "reject"}}


def _written_actions() -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        text = path.read_text()
        found |= set(LITERAL.findall(text))
        for prefix, _expr in FORMATTED.findall(text):
            assert prefix in FORMATTED_VALUES, f"{path}: action=f'{prefix}.{{…}}' — list its values here"
            found |= {f"{prefix}.{value}" for value in FORMATTED_VALUES[prefix]}
    return found


def test_every_action_a_service_records_is_known():
    written = _written_actions()
    assert "repo.create" in written and "release.approve" in written  # the scan sees them
    assert written - set(AUDIT_ACTIONS) == set()


def test_known_actions_are_sorted_and_unique():
    assert list(AUDIT_ACTIONS) == sorted(set(AUDIT_ACTIONS))
    assert list(AUDIT_TARGET_TYPES) == sorted(set(AUDIT_TARGET_TYPES))


def test_release_decisions_are_the_formatted_values():
    from registry.models import ReleaseDecision

    assert set(ReleaseDecision.Decision.values) == FORMATTED_VALUES["release"]
