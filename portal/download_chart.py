"""The model page's 30-day download chart, drawn on the server as inline SVG bars (the CSP allows no script).
Only coordinates are computed here; the template writes the SVG (auto-escaped) and a table for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from registry.selectors.portal import DownloadDayCount

WIDTH, HEIGHT = 240, 60
GAP = 1


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: DownloadDayCount


@dataclass(frozen=True)
class DownloadChart:
    width: int
    height: int
    bars: list[Bar]
    days: list[DownloadDayCount]
    total: int
    peak: int
    first_day: object
    last_day: object


def download_chart(days: Sequence[DownloadDayCount]) -> DownloadChart | None:
    """Bars for each day (oldest first); None without any day."""
    if not days:
        return None
    peak = max(d.count for d in days)
    slot = WIDTH / len(days)
    bars = []
    for index, day in enumerate(days):
        # A day without downloads still gets a 1px baseline, so the time axis stays readable.
        height = max(1.0, (HEIGHT - 2) * day.count / peak) if peak else 1.0
        bars.append(Bar(round(index * slot, 2), round(HEIGHT - height, 2), round(max(slot - GAP, 1), 2),
                        round(height, 2), day))
    return DownloadChart(WIDTH, HEIGHT, bars, list(days), sum(d.count for d in days), peak,
                         days[0].day, days[-1].day)
