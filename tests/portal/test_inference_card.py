"""The Checks tab's "Inference check" card (the newest check of the shown revision), its tokens/s chart
across the repo's revisions (inline SVG, one point per commit with a passed check) and the header badge."""

from __future__ import annotations

import re

import pytest

from registry.models import Commit, InferenceCheck, ModelRepo
from tests.portal.conftest import add_files

pytestmark = pytest.mark.django_db

METRICS = {"tokens_per_second": 123.456, "ttft_seconds": 0.0421, "load_seconds": 1.25, "load_gb_per_s": 3.5,
           "peak_memory_bytes": 3 * 1024 * 1024, "perplexity": 311.77, "logits_finite": True,
           "tokenizer_roundtrip": True, "estimated_memory_bytes": 70 * 1024 * 1024}


def commits_of(repo: ModelRepo) -> list[Commit]:
    return list(Commit.objects.filter(repo=repo).order_by("created_at", "id"))


def make_commits(actor, repo: ModelRepo, count: int) -> list[Commit]:  # noqa: ANN001
    """`count` new commits on main, oldest first."""
    before = len(commits_of(repo))
    for n in range(count):
        add_files(actor, repo, weights=f"weights {repo.name} {before + n}".encode() * 4)
    return commits_of(repo)[before:]


def passed(commit: Commit, tps: float, **extra) -> InferenceCheck:  # noqa: ANN003
    return InferenceCheck.objects.create(
        repo_id=commit.repo_id, commit=commit, status="passed", metrics={**METRICS, "tokens_per_second": tps},
        samples={"안녕하세요, 컨소시엄 모델 허브입니다.": "모델 <b>bold</b> & more", "The consortium hub": " stores"},
        device="NVIDIA H200", library_versions={"torch": "2.13.0", "transformers": "5.1.0"},
        duration_seconds=4.5, worker_host="gpu-1", **extra)


@pytest.fixture
def repo(personas, make_repo) -> ModelRepo:
    return make_repo("speedy")


def test_card_shows_metrics_and_escaped_samples(client, personas, repo):
    (commit,) = make_commits(personas.owner, repo, 1)
    passed(commit, 123.456)
    html = client.get("/acme/speedy/checks").content.decode()
    assert 'data-inference-status="passed"' in html and "inference passed" in html
    metric = {name: value for name, value in re.findall(r'data-metric="([a-z_]+)">([^<]*)<', html)}
    assert metric["device"] == "NVIDIA H200"
    assert metric["libraries"] == "torch 2.13.0 · transformers 5.1.0"
    assert metric["tokens_per_second"] == "123.5"
    assert metric["ttft"] == "42 ms"
    assert metric["load"] == "1.25 s (3.50 GB/s)"
    assert metric["peak_memory"] == "3.0\xa0MB"
    assert metric["perplexity"] == "311.77"
    assert metric["duration"] == "4.50 s"
    assert html.count("data-sample") == 2
    assert "안녕하세요, 컨소시엄 모델 허브입니다." in html
    assert "모델 &lt;b&gt;bold&lt;/b&gt; &amp; more" in html and "<b>bold</b>" not in html


def test_card_shows_the_newest_check_of_the_selected_revision(client, personas, repo):
    first, second = make_commits(personas.owner, repo, 2)
    passed(first, 10.0)
    InferenceCheck.objects.create(repo=repo, commit=second, status="pending")
    assert 'data-inference-status="pending"' in client.get("/acme/speedy/checks").content.decode()
    html = client.get(f"/acme/speedy/checks/{first.oid}").content.decode()
    assert 'data-inference-status="passed"' in html and 'data-metric="tokens_per_second">10.0<' in html


@pytest.mark.parametrize(("status", "reason", "label"), [
    ("failed", "non-finite logits (NaN or inf) at generated token 1", "Failed:"),
    ("failed", "out of memory on cpu (estimated need ~2.0 GB): MemoryError", "Failed:"),
    ("skipped", "too large for this worker: the model needs ~80.0 GB, cpu has 8.0 GB", "Not run:"),
    ("skipped", "unknown architecture 'definitely-not-a-model'", "Not run:"),
])
def test_failed_and_skipped_checks_show_their_reason(client, personas, repo, status, reason, label):
    (commit,) = make_commits(personas.owner, repo, 1)
    InferenceCheck.objects.create(repo=repo, commit=commit, status=status, reason=reason)
    html = client.get("/acme/speedy/checks").content.decode()
    assert f'data-inference-status="{status}"' in html
    shown = re.search(r"<p class=\"notice[^\"]*\" data-inference-reason>([^<]*)</p>", html)
    assert shown is not None
    assert shown.group(1).startswith(label) and reason.replace("'", "&#x27;") in shown.group(1)
    assert ("danger" in shown.group(0)) is (status == "failed")


def test_no_check_yet_says_so(client, personas, repo):
    make_commits(personas.owner, repo, 1)
    html = client.get("/acme/speedy/checks").content.decode()
    assert "No inference check has run for this revision." in html
    assert "data-inference=" not in html and "<svg" not in html


def test_chart_has_one_point_per_revision_with_a_passed_check(client, personas, repo):
    a, b, c, d = make_commits(personas.owner, repo, 4)
    passed(a, 5.0)
    passed(a, 7.0)  # a re-run of the same commit: its newest passed check is the point
    InferenceCheck.objects.create(repo=repo, commit=b, status="failed", reason="NaN")
    passed(c, 20.0)
    InferenceCheck.objects.create(repo=repo, commit=d, status="skipped", reason="too large")
    html = client.get("/acme/speedy/checks").content.decode()
    points = re.findall(r'<circle class="point[^"]*" data-commit="([0-9a-f]{40})" cx="([\d.]+)" cy="([\d.]+)"',
                        html)
    assert [p[0] for p in points] == [a.oid, c.oid]  # oldest → newest; b and d have no passed check
    (_, xa, ya), (_, xc, yc) = points
    assert float(xa) < float(xc) and float(ya) > float(yc)  # 7 tokens/s is drawn lower than 20
    assert re.search(r'<svg role="img" aria-labelledby="speed-title speed-desc"', html)
    desc = re.search(r'<desc id="speed-desc">([^<]*)</desc>', html).group(1)
    assert desc == "2 revisions with a passed check: lowest 7.0, highest 20.0, latest 20.0 tokens/s."
    rows = re.findall(r'data-speed-row="([0-9a-f]{40})"><td>.*?</td><td>([\d.]+)</td>', html)
    assert rows == [(a.oid, "7.0"), (c.oid, "20.0")]
    assert "<script" not in html.split('<section class="inference-check"')[1]


def test_chart_stops_at_the_newest_revisions(client, personas, repo, monkeypatch):
    from registry.selectors import inference as selectors

    monkeypatch.setattr(selectors, "CHART_REVISIONS", 3)
    commits = make_commits(personas.owner, repo, 5)
    for n, commit in enumerate(commits):
        passed(commit, float(n + 1))
    html = client.get("/acme/speedy/checks").content.decode()
    shown = re.findall(r'<circle class="point[^"]*" data-commit="([0-9a-f]{40})"', html)
    assert shown == [c.oid for c in commits[2:]]


def test_header_badge_shows_the_revisions_inference_status(client, personas, repo):
    first, second = make_commits(personas.owner, repo, 2)
    passed(first, 1.0)
    InferenceCheck.objects.create(repo=repo, commit=second, status="failed", reason="NaN")
    html = client.get("/acme/speedy").content.decode()
    assert 'data-inference="failed"' in html and "inference failed" in html
    assert 'href="/acme/speedy/checks/main#inference"' in html
    assert 'data-inference="passed"' in client.get(f"/acme/speedy/tree/{first.oid}").content.decode()


@pytest.mark.parametrize(("who", "status"), [
    ("anonymous", 404), ("outsider", 404), ("reader", 200), ("member", 200), ("owner", 200),
])
def test_private_repo_checks_are_404_to_outsiders(as_user, personas, make_repo, who, status):
    secret = make_repo("hidden", private=True)
    (commit,) = make_commits(personas.owner, secret, 1)
    passed(commit, 42.0)
    response = as_user(getattr(personas, who)).get("/acme/hidden/checks")
    assert response.status_code == status
    body = response.content.decode()
    assert ("42.0" in body) is (status == 200)
    if status == 404:
        assert commit.oid not in body and "NVIDIA" not in body
    assert as_user(getattr(personas, who)).get(f"/acme/hidden/checks/{commit.oid}").status_code == status


def test_checks_tab_query_count_does_not_grow_with_checks(client, personas, repo, django_assert_max_num_queries):
    commits = make_commits(personas.owner, repo, 3)
    for commit in commits:
        passed(commit, 3.0)
    with django_assert_max_num_queries(25) as few:
        client.get("/acme/speedy/checks")
    for commit in make_commits(personas.owner, repo, 2):
        passed(commit, 4.0)
        passed(commit, 5.0)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get("/acme/speedy/checks").content.decode()
    assert html.count('<circle class="point') == 5


def test_card_in_korean(client, personas, repo):
    (commit,) = make_commits(personas.owner, repo, 1)
    passed(commit, 9.0)
    html = client.get("/acme/speedy/checks", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    for text in ("추론 검사", "초당 토큰 수", "첫 토큰까지 걸린 시간", "최대 메모리", "생성된 텍스트"):
        assert text in html, text


def test_chart_geometry():
    from datetime import UTC, datetime

    from portal.inference_chart import HEIGHT, WIDTH, _nice_ceiling, speed_chart
    from registry.selectors.inference import SpeedPoint

    assert [_nice_ceiling(v) for v in (0.07, 3, 100.3, 2400)] == [0.08, 3.0, 120.0, 2500.0]
    assert speed_chart([]) is None

    def point(tps: float) -> SpeedPoint:
        return SpeedPoint(commit_oid="a" * 40, commit_title="t", committed_at=datetime.now(UTC),
                          tokens_per_second=tps, device="cpu")

    (only,) = speed_chart([point(10.0)]).dots
    assert 0 < only.x < WIDTH and only.x == pytest.approx((48 + WIDTH - 12) / 2)  # a lone point is centred
    chart = speed_chart([point(0.0), point(12.0), point(6.0)])
    assert [d.x for d in chart.dots] == sorted(d.x for d in chart.dots)
    assert chart.dots[0].y == chart.bottom < HEIGHT and chart.dots[1].y < chart.dots[2].y < chart.dots[0].y
    assert chart.y_max >= 12.0 and chart.lowest.tokens_per_second == 0.0 and chart.latest.tokens_per_second == 6.0
