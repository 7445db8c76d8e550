from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_accept_language_korean(client, seed):
    response = client.get("/models", HTTP_ACCEPT_LANGUAGE="ko")
    html = response.content.decode()
    assert '<html lang="ko">' in html
    assert "액세스 토큰" not in html  # only for signed-in users
    assert ">모델<" in html and "로그인" in html
    assert "모델 4개" not in html and "모델 3개" in html


def test_accept_language_english_by_default(client, seed):
    html = client.get("/models").content.decode()
    assert '<html lang="en">' in html and ">Models<" in html


def test_language_switcher_sets_korean(client, seed):
    page = client.get("/acme/tiny").content.decode()
    assert 'action="/i18n/setlang/"' in page and 'name="language"' in page
    response = client.post("/i18n/setlang/", {"language": "ko", "next": "/acme/tiny"})
    assert response.status_code == 302 and response["Location"] == "/acme/tiny"
    html = client.get("/acme/tiny").content.decode()
    assert "모델 카드" in html and "파일 및 버전" in html


def test_korean_model_page_gated_texts(as_user, personas, seed):
    html = as_user(personas.outsider).get("/acme/gated-manual", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "라이선스에 동의하기 전까지 다운로드가 잠겨 있습니다." in html


def test_compiled_catalogue_matches_the_po_file():
    """CI has no gettext: the compiled .mo is committed and must hold every message of the .po."""
    import gettext
    import re
    from pathlib import Path

    from django.conf import settings

    mo = Path(settings.BASE_DIR) / "locale" / "ko" / "LC_MESSAGES" / "django.mo"
    assert mo.exists(), "compile locale/ko/LC_MESSAGES/django.po (msgfmt) and commit the .mo"
    with mo.open("rb") as fh:
        catalogue = gettext.GNUTranslations(fh)
    po_messages = len(re.findall(r"^msgid ", mo.with_suffix(".po").read_text(), re.M)) - 1  # minus header
    assert len([k for k in catalogue._catalog if k != ""]) == po_messages, "recompile django.mo"
    assert catalogue.gettext("Access tokens") == "액세스 토큰"


def test_every_korean_string_is_translated():
    import re
    from pathlib import Path

    from django.conf import settings

    text = (Path(settings.BASE_DIR) / "locale" / "ko" / "LC_MESSAGES" / "django.po").read_text()
    assert "#, fuzzy\nmsgid \"\"" not in text
    empty = re.findall(r'\nmsgid "(.+)"\nmsgstr ""\n\n', text)
    assert empty == []


# --- the Korean catalogue is complete (issue 19) -----------------------------------------------------------------

LOCALE = "locale/ko/LC_MESSAGES/django"


def _po_entries(path) -> list[dict]:
    """A small .po parser (CI has neither polib nor babel): msgctxt/msgid/msgid_plural/msgstr[n] with their
    continuation lines, flags ("#, fuzzy"), obsolete entries ("#~") kept apart."""
    import ast

    entries: list[dict] = []
    current: dict = {}
    field = None

    def close() -> None:
        nonlocal current, field
        if "msgid" in current:
            entries.append(current)
        current, field = {}, None

    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            close()
            continue
        if line.startswith("#~"):
            current["obsolete"] = True
            continue
        if line.startswith("#,"):
            current.setdefault("flags", set()).update(f.strip() for f in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            current[field] += ast.literal_eval(line)
            continue
        key, _, rest = line.partition(" ")
        if key == "msgid" and "msgid" in current:  # two entries without a blank line between them
            close()
        field = key
        current[field] = ast.literal_eval(rest)
    close()
    return entries


def _catalogue(path) -> list[dict]:
    return [e for e in _po_entries(path) if not e.get("obsolete") and e["msgid"]]


def _po_path():
    from pathlib import Path

    from django.conf import settings

    return Path(settings.BASE_DIR) / f"{LOCALE}.po"


def test_korean_catalogue_has_no_untranslated_or_fuzzy_entry():
    entries = _catalogue(_po_path())
    assert len(entries) > 400
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e.get("flags", ())]
    untranslated = [e["msgid"] for e in entries
                    if not all(v for k, v in e.items() if k.startswith("msgstr")) or
                    not any(k.startswith("msgstr") for k in e)]
    assert fuzzy == [] and untranslated == []


def test_korean_placeholders_match_the_english():
    """A translation keeps every %(name)s / {name} of its msgid (msgfmt --check does this where gettext exists)."""
    import re

    placeholder = re.compile(r"%\([a-z_]+\)[sd]|%[sd]")
    wrong = []
    for e in _catalogue(_po_path()):
        wanted = set(placeholder.findall(e["msgid"] + e.get("msgid_plural", "")))
        for key, value in e.items():
            if key.startswith("msgstr") and set(placeholder.findall(value)) != wanted:
                wrong.append((e["msgid"], value))
    assert wrong == []


def test_compiled_catalogue_holds_exactly_the_po_translations():
    """The committed django.mo is the .po compiled: every msgid with its very msgstr (not only the same count)."""
    import gettext

    po = _po_path()
    with po.with_suffix(".mo").open("rb") as fh:
        mo = gettext.GNUTranslations(fh)
    expected = {}
    for e in _catalogue(po):
        key = e["msgid"] if "msgctxt" not in e else f"{e['msgctxt']}\x04{e['msgid']}"
        if "msgid_plural" in e:
            expected[(key, 0)] = e["msgstr[0]"]
        else:
            expected[key] = e["msgstr"]
    actual = {k: v for k, v in mo._catalog.items() if k != ""}
    assert actual == expected, f"recompile: msgfmt --check -o {LOCALE}.mo {LOCALE}.po"


def test_msgfmt_check_is_clean(tmp_path):
    """What `manage.py compilemessages` runs (msgfmt --check-format), where gettext is installed."""
    import shutil
    import subprocess

    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("gettext (msgfmt) is not installed; the parser tests above still run")
    result = subprocess.run([msgfmt, "--check", "--statistics", "-o", str(tmp_path / "django.mo"), str(_po_path())],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr


def test_every_template_string_is_in_the_korean_catalogue():
    """`makemessages -l ko` was run after the templates changed: each literal {% translate %} of a template has its
    entry (an entry that is missing shows English on a Korean page)."""
    import re
    from pathlib import Path

    from django.conf import settings

    msgids = {e["msgid"] for e in _catalogue(_po_path())}
    literal = re.compile(r"""{%\s*(?:translate|trans)\s+(?:"([^"]*)"|'([^']*)')(?:\s+(?:noop|as\s+\w+))*\s*%}""")
    missing = set()
    for template in (Path(settings.BASE_DIR) / "templates").rglob("*.html"):
        for found in literal.finditer(template.read_text(encoding="utf-8")):
            text = found.group(1) if found.group(1) is not None else found.group(2)
            if text and text not in msgids:
                missing.add(f"{template.relative_to(settings.BASE_DIR)}: {text}")
    assert missing == set()


def test_relative_times_are_korean(as_user, personas, seed):
    from datetime import timedelta

    from django.utils import timezone

    from registry.models import ApiKey
    from registry.services.keys import api_key_create

    key, _ = api_key_create(user=personas.member, name="laptop", scopes=["read"])
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=3))
    client = as_user(personas.member)
    ko = client.get("/settings/tokens", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "3 분 전" in ko or "3분 전" in ko
    assert "minutes" not in ko
    en = client.get("/settings/tokens", HTTP_ACCEPT_LANGUAGE="en").content.decode().replace("\xa0", " ")
    assert "3 minutes ago" in en
    listing = client.get("/models", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "업데이트 지금" in listing and " ago" not in listing and "now" not in listing


def test_role_and_release_state_badges_are_korean(as_user, personas, ready):
    from tests.fixtures.releases import request

    request(personas, ready[0])
    client = as_user(personas.owner)
    org = client.get("/acme", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'class="badge role-admin">관리자</span>' in org and ">Admin<" not in org
    for url in ("/acme/tiny/releases", "/acme/tiny/releases/1.0.0"):
        html = client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
        assert 'class="badge state-pending">승인 대기</span>' in html, url
        assert "Pending approval" not in html
