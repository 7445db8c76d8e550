"""The tokens/s chart of the Checks tab, drawn on the server: inline SVG (the CSP allows no script), with
the numbers also given as text for screen readers. Only coordinates are computed here; the template writes
the SVG, so every label is auto-escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from registry.selectors.inference import SpeedPoint

WIDTH, HEIGHT = 480, 140
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 24  # room for the axis labels


@dataclass(frozen=True)
class ChartDot:
    x: float
    y: float
    point: SpeedPoint


@dataclass(frozen=True)
class SpeedChart:
    width: int
    height: int
    dots: list[ChartDot]
    polyline: str
    y_max: float  # the top of the axis, tokens/s
    left: int
    top: int
    bottom: float  # y of the x axis
    right: float  # x where the axis ends
    lowest: SpeedPoint
    highest: SpeedPoint
    latest: SpeedPoint


def _nice_ceiling(value: float) -> float:
    """The first of 1, 1.2, 1.5, 2 … 8 × 10^n at or above `value`: a readable top for the axis."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)


def speed_chart(points: Sequence[SpeedPoint]) -> SpeedChart | None:
    """Coordinates for `points` (oldest first); None without any point."""
    if not points:
        return None
    y_max = _nice_ceiling(max(p.tokens_per_second for p in points) * 1.05)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / (len(points) - 1) if len(points) > 1 else 0
    dots = []
    for index, point in enumerate(points):
        x = LEFT + (index * step if len(points) > 1 else plot_w / 2)
        y = TOP + plot_h * (1 - point.tokens_per_second / y_max)
        dots.append(ChartDot(x=round(x, 1), y=round(y, 1), point=point))
    return SpeedChart(
        width=WIDTH, height=HEIGHT, dots=dots, polyline=" ".join(f"{d.x},{d.y}" for d in dots), y_max=y_max,
        left=LEFT, top=TOP, bottom=TOP + plot_h, right=WIDTH - RIGHT,
        lowest=min(points, key=lambda p: p.tokens_per_second),
        highest=max(points, key=lambda p: p.tokens_per_second), latest=points[-1],
    )
