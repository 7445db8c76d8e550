"""benchmarks/scale.py's verdicts (no timing here: the benchmark prints ratios; CI runs its small mode as a step of
its own): the goals, the tolerance, the per-file rule for the tree, and that it drops only its own databases."""

from __future__ import annotations

import pytest

from benchmarks import scale

PAGE = scale.Row("page", "a page", lambda side: 1)
TREE = scale.Row("tree", "a tree", lambda side: 1, per_item=True, absolute=False)


@pytest.mark.parametrize(("row", "small", "large", "tolerance", "ok"), [
    (PAGE, 0.030, 0.040, 1, True),  # 1.33x, 40 ms
    (PAGE, 0.030, 0.050, 1, False),  # 1.67x
    (PAGE, 0.250, 0.320, 1, False),  # 1.28x but over 300 ms
    (PAGE, 0.030, 0.050, 2, True),  # within the tolerance: ratio <= 3, <= 600 ms
    (PAGE, 0.030, 1.100, 2, False),  # a page that reads a whole table
    (TREE, 0.0003, 0.0004, 1, True),  # per file: no absolute goal (20,000 files take seconds)
    (TREE, 0.0003, 0.0015, 2, False),  # quadratic
])
def test_goals(row, small, large, tolerance, ok):
    assert scale.Result(row, small, large, 200, 20000).ok(tolerance) is ok


def test_an_error_misses_the_goal():
    assert not scale.Result(PAGE, 0, 0, 0, 0, error="RuntimeError: 500").ok(10)


def test_check_fails_the_run_when_a_goal_is_missed(capsys):
    small, large = scale.Side("small", "hub_scale_a", 100, 200, 500), scale.Side("large", "hub_scale_b", 10, 1, 1)
    assert not scale.report([scale.Result(PAGE, 0.03, 0.2, 1, 1)], small, large, 1)
    assert "MISSED" in capsys.readouterr().out
    assert scale.report([scale.Result(PAGE, 0.03, 0.04, 1, 1)], small, large, 1)


@pytest.mark.parametrize("flag", ["--small-db", "--large-db"])
def test_refuses_to_drop_other_databases(flag):
    with pytest.raises(SystemExit):
        scale.main([flag, "hub"])
