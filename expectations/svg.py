"""Small inline SVG charts for the quality report: no scripts, no fonts, nothing fetched."""
from __future__ import annotations

from html import escape

OK, WARN, BAD, MUTED, INK = "#2e7d32", "#ef6c00", "#c62828", "#b0bec5", "#37474f"
PALETTE = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#2e7d32", "#ad1457", "#4e342e", "#546e7a")


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">' + "".join(body) + "</svg>")


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str = "") -> str:
    tag = f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 1):.1f}" height="{h:.1f}" fill="{fill}"'
    return f"{tag}><title>{escape(title)}</title></rect>" if title else f"{tag}/>"


def _text(x: float, y: float, text: str, size: int = 10, anchor: str = "start", color: str = INK) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{color}" '
            f'font-family="sans-serif">{escape(text)}</text>')


def histogram(edges: list[float], reference: list[float], current: list[float], *, failed: bool,
              width: int = 260, height: int = 110) -> str:
    """Reference weights as grey bars, the current window's as a coloured outline, on shared bins."""
    pad_l, pad_b, pad_t = 4, 16, 4
    n = max(len(reference), 1)
    top = max([*reference, *current, 1e-9])
    bar_w = (width - 2 * pad_l) / n
    plot_h = height - pad_b - pad_t
    body = [_rect(0, 0, width, height, "#fafafa")]
    for i, w in enumerate(reference):
        h = plot_h * w / top
        body.append(_rect(pad_l + i * bar_w + 1, pad_t + plot_h - h, bar_w - 2, h, MUTED))
    color = WARN if failed else "#1565c0"
    points = []
    for i, w in enumerate(current):
        y = pad_t + plot_h - plot_h * w / top
        points += [f"{pad_l + i * bar_w:.1f},{y:.1f}", f"{pad_l + (i + 1) * bar_w:.1f},{y:.1f}"]
    if points:
        body.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" stroke-width="2"/>')
    if edges:
        body.append(_text(pad_l, height - 4, _num(edges[0]), 9))
        body.append(_text(width - pad_l, height - 4, _num(edges[-1]), 9, "end"))
    return _svg(width, height, body, "histogram: reference (grey) and current window (line)")


def range_bar(low: float | None, high: float | None, value: float | None, *, width: int = 260, height: int = 26) -> str:
    """The allowed interval as a band and the observed value as a tick: red when outside."""
    if value is None or (low is None and high is None):
        return ""
    lo = low if low is not None else min(value, high)
    hi = high if high is not None else max(value, low)
    span = max(hi - lo, abs(value) * 1e-6, 1e-9)
    left, right = min(lo, value) - 0.15 * span, max(hi, value) + 0.15 * span

    def x(v: float) -> float:
        return 6 + (width - 12) * (v - left) / (right - left)

    inside = (low is None or value >= low) and (high is None or value <= high)
    body = [_rect(x(lo), 6, x(hi) - x(lo), 8, "#c8e6c9"), _rect(x(value) - 1.5, 2, 3, 16, OK if inside else BAD),
            _text(x(lo), height - 1, _num(lo), 8, "middle"), _text(x(hi), height - 1, _num(hi), 8, "middle")]
    return _svg(width, height, body, f"observed {value} against [{low}, {high}]")


def stacked_bars(labels: list[str], series: dict[str, list[int]], colors: dict[str, str], *,
                 width: int = 820, height: int = 150, label: str = "failures per batch",
                 empty: str | None = "none failed") -> str:
    """One bar per label (a batch, a day), stacked by series (e.g. critical failures, warnings);
    a bar with nothing in it gets a thin green mark titled `empty` (None: no mark)."""
    pad_l, pad_b, pad_t = 28, 34, 8
    n = max(len(labels), 1)
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    top = max([*totals, 1])
    bar_w = min((width - pad_l - 8) / n, 90)
    plot_h = height - pad_b - pad_t
    body = [_text(pad_l - 4, pad_t + 8, str(top), 9, "end"), _text(pad_l - 4, pad_t + plot_h, "0", 9, "end"),
            f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 8}" y2="{pad_t + plot_h}" stroke="{MUTED}"/>']
    for i, name_i in enumerate(labels):
        y = pad_t + plot_h
        for name, values in series.items():
            h = plot_h * values[i] / top
            y -= h
            if h:
                body.append(_rect(pad_l + i * bar_w + 2, y, bar_w - 4, h, colors[name], f"{name_i}: {values[i]} {name}"))
        if totals[i] == 0 and empty:
            body.append(_rect(pad_l + i * bar_w + 2, pad_t + plot_h - 2, bar_w - 4, 2, OK, f"{name_i}: {empty}"))
        body.append(_text(pad_l + (i + 0.5) * bar_w, height - 20, _short(name_i, bar_w), 8, "middle"))
    body += _legend(list(series), colors, pad_l, height - 4)
    return _svg(width, height, body, label)


def lines(labels: list[str], series: dict[str, list[float | None]], *, limit: float = 1.0,
          width: int = 820, height: int = 170) -> str:
    """One line per series over batches, with a dashed line at `limit` (a ratio to the threshold)."""
    pad_l, pad_r, pad_b, pad_t = 60, 50, 34, 8  # room for the first and last batch labels
    values = [v for s in series.values() for v in s if v is not None]
    top = max([*values, limit * 1.25, 1e-9])
    n = max(len(labels), 1)
    step = (width - pad_l - pad_r) / max(n - 1, 1)
    plot_h = height - pad_b - pad_t

    def y(v: float) -> float:
        return pad_t + plot_h - plot_h * min(v, top) / top

    body = [f'<line x1="{pad_l - 10}" y1="{y(limit):.1f}" x2="{width - 8}" y2="{y(limit):.1f}" stroke="{BAD}" '
            'stroke-dasharray="4 3"/>',
            _text(pad_l - 14, y(limit) + 3, _num(limit), 9, "end"), _text(pad_l - 14, pad_t + plot_h, "0", 9, "end")]
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    for name, vals in series.items():
        pts = [(pad_l + i * step, y(v)) for i, v in enumerate(vals) if v is not None]
        if len(pts) > 1:
            body.append(f'<polyline points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}" fill="none" '
                        f'stroke="{colors[name]}" stroke-width="1.6"/>')
        body += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.4" fill="{colors[name]}"/>' for a, b in pts]
    for i, label in enumerate(labels):
        body.append(_text(pad_l + i * step, height - 20, _short(label, min(step, 2 * pad_r)), 8, "middle"))
    body += _legend(list(series), colors, pad_l, height - 4)
    return _svg(width, height, body, "drift distance per sensor over batches")


def _legend(names: list[str], colors: dict[str, str], x: float, y: float) -> list[str]:
    out = []
    for name in names:
        out += [_rect(x, y - 8, 9, 9, colors[name]), _text(x + 12, y, name, 9)]
        x += 24 + 6 * len(name)
    return out


def _short(label: str, room: float) -> str:
    keep = max(int(room / 5), 4)
    return label if len(label) <= keep else "…" + label[-(keep - 1):]


def _num(v: float) -> str:
    return f"{v:.4g}"
