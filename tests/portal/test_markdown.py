"""Card rendering: untrusted Markdown/HTML in, safe HTML out. No database needed."""

from __future__ import annotations

import pytest

from portal.markdown import render_card, render_markdown, strip_front_matter


@pytest.mark.parametrize("source, forbidden", [
    ("<script>alert(1)</script>", "<script"),
    ("<SCRIPT SRC=https://evil.example/x.js></SCRIPT>", "evil.example"),
    ('<img src="x.png" onerror="alert(1)">', "onerror"),
    ('<a href="#" onclick="steal()">x</a>', "onclick"),
    ('<svg onload="alert(1)"><circle/></svg>', "onload"),
    ("[x](javascript:alert(1))", "javascript:"),
    ('<a href="JaVaScRiPt:alert(1)">x</a>', "javascript:"),
    ('<a href="&#106;avascript:alert(1)">x</a>', "alert(1)"),
    ('<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>', "data:"),
    ('<iframe src="https://evil.example"></iframe>', "<iframe"),
    ('<object data="x.swf"></object>', "<object"),
    ('<form action="https://evil.example"><input name=p></form>', "<form"),
    ('<p style="background:url(javascript:alert(1))">x</p>', "style="),
    ('<meta http-equiv="refresh" content="0;url=https://evil.example">', "<meta"),
    ("<style>body{display:none}</style>", "<style"),
    ('<base href="https://evil.example/">', "<base"),
])
def test_dangerous_html_is_removed(source, forbidden):
    html = render_markdown(source)
    assert forbidden.lower() not in html.lower()


def test_front_matter_is_stripped_even_when_broken():
    assert strip_front_matter("---\nlicense: mit\n---\n# Body\n") == "# Body\n"
    assert strip_front_matter("---\n: : bad: [\n---\n# Body\n").strip() == "# Body"
    assert "license" not in render_card("---\nlicense: mit\n---\n# Title\n")


def test_markdown_features_survive():
    html = render_card("# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint('hi')\n```\n\n"
                       "**bold** and [link](https://example.org)\n")
    assert '<h1 id="title">Title</h1>' in html
    assert "<table>" in html and "<td>1</td>" in html
    assert '<code class="language-python">' in html
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.org"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_relative_links_point_into_the_repo():
    html = render_card("![chart](assets/chart.png) [config](./config.json) [up](../../etc/passwd)",
                       repo_base="/acme/tiny", revision="refs/pr/1")
    assert 'src="/acme/tiny/resolve/refs%2Fpr%2F1/assets/chart.png"' in html
    assert 'href="/acme/tiny/blob/refs%2Fpr%2F1/config.json"' in html
    assert "etc/passwd" not in html


def test_text_is_escaped_not_interpreted():
    html = render_markdown("`<script>` and 1 < 2 & 3 > 2")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
