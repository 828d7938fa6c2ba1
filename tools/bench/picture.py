"""Draws a load's timeline, as the benchmark sink saw it second by second, into an SVG: items written
per second against the table's capacity, and the most write requests in flight, so the loader's
adaptive concurrency (climbing while writes go through, halving when throttled) can be seen.

Plain SVG, no plotting library: two panels sharing the time axis.
"""

from html import escape

WIDTH, PANEL, GAP, LEFT, RIGHT, TOP = 860, 190, 50, 70, 20, 40


def _polyline(points, colour):
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>'


def _panel(top, title, values, seconds, ceiling, colour, line=None):
    """One panel: `values` per second (index = second), y from 0 to `ceiling`."""
    plot_w = WIDTH - LEFT - RIGHT
    x = lambda s: LEFT + plot_w * s / max(seconds, 1)  # noqa: E731
    y = lambda v: top + PANEL - PANEL * min(v, ceiling) / ceiling  # noqa: E731
    parts = [
        f'<text x="{LEFT}" y="{top - 8}" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#999"/>',
    ]
    for fraction in (0, 0.5, 1):
        value = ceiling * fraction
        parts.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{value:,.0f}</text>')
    if line is not None:
        value, label = line
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" '
                     f'y2="{y(value):.1f}" stroke="#c33" stroke-dasharray="5,4"/>')
        parts.append(f'<text x="{LEFT + plot_w - 4}" y="{y(value) - 5:.1f}" font-size="11" '
                     f'fill="#c33" text-anchor="end">{escape(label)}</text>')
    parts.append(_polyline([(x(s), y(v)) for s, v in enumerate(values)], colour))
    return parts


def timeline_svg(timeline, capacity, title):
    """`timeline`: the sink's `/timeline` (one entry per second that saw a write)."""
    seconds = max((row["second"] for row in timeline), default=0) + 1
    items, in_flight = [0] * seconds, [0] * seconds
    for row in timeline:
        items[row["second"]] = row["items"]
        in_flight[row["second"]] = row["max_in_flight"]
    rate_ceiling = max(max(items, default=1), capacity or 1) * 1.15
    flight_ceiling = max(max(in_flight, default=1), 1) * 1.15
    height = TOP + 2 * PANEL + GAP + 45
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="sans-serif">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="15">{escape(title)}</text>',
    ]
    parts += _panel(TOP + 12, "items written per second", items, seconds, rate_ceiling,
                    "#2a6fb0", (capacity, f"capacity {capacity:,}/s") if capacity else None)
    parts += _panel(TOP + 12 + PANEL + GAP, "write requests in flight (most in each second)",
                    in_flight, seconds, flight_ceiling, "#3a8a3a")
    axis_y = TOP + 12 + 2 * PANEL + GAP + 18
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        s = (seconds - 1) * fraction
        x = LEFT + (WIDTH - LEFT - RIGHT) * fraction
        parts.append(f'<text x="{x:.1f}" y="{axis_y}" font-size="11" '
                     f'text-anchor="middle">{s:.0f} s</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
