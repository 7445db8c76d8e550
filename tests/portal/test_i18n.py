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
