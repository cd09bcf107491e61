"""Inline SVG line charts (no plotting library in the browser, no image files to write)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#db2777")
WIDTH, HEIGHT = 640, 300
TOP, RIGHT = 28, 16

Point = tuple[float, float, "float | None", "float | None"]  # x, y, interval low, interval high


@dataclass(frozen=True)
class Frame:
    """Where the plot sits in the SVG and how data maps onto it."""

    left: float
    bottom: float  # y of the plot's lower edge
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def x(self, value: float) -> float:
        low, high = self.x_range
        return self.left + (value - low) / (high - low) * (WIDTH - self.left - RIGHT)

    def y(self, value: float) -> float:
        low, high = self.y_range
        return TOP + (1 - (value - low) / (high - low)) * (self.bottom - TOP)


def line_chart(
    title: str,
    series: dict[str, list[Point]],
    x_labels: list[str] | None = None,
    y_range: tuple[float, float] | None = None,
    y_format: str = "{:.2f}",
    dashed: frozenset[str] = frozenset(),
) -> str:
    """One chart: each series is points (x, y, low, high); low/high draw an interval whisker.
    With ``x_labels`` the x values are positions 0..n-1 named by the labels (stages)."""
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    slanted = bool(x_labels) and len(x_labels) > 4
    # Slanted stage names hang left of their tick: the first one needs room beside the axis.
    left = max(48.0, min(150.0, 5.5 * max(map(len, x_labels)))) if slanted else 48.0
    bottom = HEIGHT - (90 if slanted else 56)
    xs = [p[0] for p in points]
    ys = [v for p in points for v in (p[1], p[2], p[3]) if v is not None]
    frame = Frame(
        left,
        bottom,
        _widened((0, len(x_labels) - 1) if x_labels else (min(xs), max(xs))),
        _widened(y_range or (min(ys), max(ys))),
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>{escape(title)}</title>',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{left}" y="{TOP}" width="{WIDTH - left - RIGHT}" height="{bottom - TOP}" fill="none" '
        'stroke="#ccc"/>',
    ]
    parts += _y_ticks(frame, y_format)
    parts += _x_ticks(frame, x_labels, slanted)
    for number, (name, values) in enumerate(series.items()):
        parts += _series(
            frame, name, sorted(values), PALETTE[number % len(PALETTE)], name in dashed, y_format
        )
    parts += _legend(list(series), left)
    parts.append("</svg>")
    return "".join(parts)


def _widened(span: tuple[float, float]) -> tuple[float, float]:
    low, high = span
    return (low, high) if high > low else (low, low + 1)


def _series(
    frame: Frame, name: str, values: list[Point], colour: str, dashed: bool, y_format: str
) -> list[str]:
    dash = ' stroke-dasharray="5,4"' if dashed else ""
    line = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y, _, _ in values)
    parts = [f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>']
    for x, y, low, high in values:
        if low is not None and high is not None:
            parts.append(
                f'<line x1="{frame.x(x):.1f}" y1="{frame.y(low):.1f}" x2="{frame.x(x):.1f}" '
                f'y2="{frame.y(high):.1f}" stroke="{colour}" stroke-width="1.5" opacity="0.6"/>'
            )
        parts.append(
            f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="3" fill="{colour}">'
            f"<title>{escape(name)}: {escape(y_format.format(y))}</title></circle>"
        )
    return parts


def _y_ticks(frame: Frame, y_format: str) -> list[str]:
    low, high = frame.y_range
    parts = []
    for tick in range(5):
        value = low + (high - low) * tick / 4
        y = frame.y(value)
        parts.append(
            f'<line x1="{frame.left}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{frame.left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{escape(y_format.format(value))}</text>"
        )
    return parts


def _x_ticks(frame: Frame, labels: list[str] | None, slanted: bool) -> list[str]:
    """Tick labels under the plot; stage names are slanted so that many of them still fit."""
    if labels:
        every = max(1, len(labels) // 12)
        ticks = [(i, labels[i]) for i in range(0, len(labels), every)]
    else:
        low, high = frame.x_range
        ticks = [(low + (high - low) * i / 4, f"{low + (high - low) * i / 4:g}") for i in range(5)]
    parts = []
    for x, label in ticks:
        at = f'x="{frame.x(x):.1f}" y="{frame.bottom + 14}"'
        if slanted:
            at += f' transform="rotate(-25 {frame.x(x):.1f} {frame.bottom + 14})"'
        anchor = "end" if slanted else "middle"
        parts.append(f'<text {at} font-size="10" text-anchor="{anchor}">{escape(label)}</text>')
    return parts


def _legend(names: list[str], left: float) -> list[str]:
    """Names under the plot, left to right, wrapping onto a second row."""
    parts, x, row = [], left, 0
    for number, name in enumerate(names):
        width = 7 * len(name) + 28
        if x + width > WIDTH and x > left:
            x, row = left, row + 1
        colour = PALETTE[number % len(PALETTE)]
        y = HEIGHT - 24 + 14 * row
        parts.append(f'<text x="{x}" y="{y}" font-size="11" fill="{colour}">— {escape(name)}</text>')
        x += width
    return parts
