"""Domain errors reach Korean portal pages as they are raised (portal views show `exc.message`), so every message a
service, selector, the permission checks, the name rules or a portal view raise is wrapped in gettext: a bare
literal or f-string would show English on a Korean page. The HF and native APIs still answer in English
(api.wire.ApiLanguageMiddleware).
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.utils import translation

from registry import exceptions
from registry.exceptions import HubError, InvalidInput
from registry.names import check_name

ROOT = Path(__file__).resolve().parents[2]
SCANNED = [
    *sorted((ROOT / "registry" / "services").glob("*.py")),
    *sorted((ROOT / "registry" / "selectors").glob("*.py")),
    ROOT / "registry" / "permissions.py",
    ROOT / "registry" / "names.py",
    *sorted((ROOT / "portal" / "views").glob("*.py")),
]
HUB_ERRORS = {
    name for name, value in vars(exceptions).items() if isinstance(value, type) and issubclass(value, HubError)
}


def _bare_messages(path: Path, root: Path = ROOT) -> list[str]:
    """`raise SomeHubError("literal")` or `raise SomeHubError(f"...")` in `path`, as `file:line` strings."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args):
            continue
        func = node.exc.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        message = node.exc.args[0]
        literal = isinstance(message, ast.Constant) and isinstance(message.value, str)
        bare = literal or isinstance(message, ast.JoinedStr)
        if name in HUB_ERRORS and bare:
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_domain_error_message_is_translatable():
    bare = [hit for path in SCANNED for hit in _bare_messages(path)]
    assert bare == [], "wrap these messages in gettext (f-strings: gettext('… %(x)s …') % {...}): " + ", ".join(bare)


def test_the_scan_sees_a_bare_message(tmp_path):
    module = tmp_path / "sample.py"
    module.write_text(
        'def f(x):\n    raise InvalidInput(f"bad {x}")\n\n'
        'def g():\n    raise Conflict("taken")\n\n'
        'def h():\n    raise Conflict(gettext("taken"))\n'
    )
    assert _bare_messages(module, tmp_path) == ["sample.py:2", "sample.py:5"]


def test_messages_follow_the_active_language():
    with translation.override("ko"):
        try:
            check_name("bad name!", what="name")
        except InvalidInput as exc:
            korean = exc.message
    with translation.override("en"):
        try:
            check_name("bad name!", what="name")
        except InvalidInput as exc:
            english = exc.message
    assert "올바른 이름이(가) 아닙니다" in korean and "ASCII 영문자" in korean
    assert english.startswith("'bad name!' is not a valid name: use ASCII letters")
