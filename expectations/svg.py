"""Small inline SVG charts for the HTML reports: no scripts, no fonts, nothing fetched.

Hand-written SVG renders in milliseconds where a matplotlib figure takes a few hundred, which
keeps the batch job's report cheap."""
from __future__ import annotations

import math
from html import escape

import numpy as np

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


def panels(rows: list[dict], spans: list[tuple[float, float, str, str]], span_s: float, *,
           ticks: list[tuple[float, str]] = (), width: int = 960, panel_h: int = 58, label: str = "sensors") -> str:
    """Aligned panels over one time axis, one per row {name, unit, x (seconds from the start),
    y, binary}: continuous signals as lines (broken at gaps), binary ones as filled runs; the
    spans (start s, end s, colour, title) shaded across every panel; ticks (s, text) below."""
    pad_l, pad_r, pad_t, gap, pad_b = 110, 10, 6, 6, 18
    plot_w = width - pad_l - pad_r
    height = pad_t + len(rows) * (panel_h + gap) + pad_b

    def x(seconds):
        return pad_l + plot_w * np.clip(np.asarray(seconds, dtype=float), 0, span_s) / span_s

    body = [_rect(0, 0, width, height, "#fff")]
    bottom = pad_t + len(rows) * (panel_h + gap) - gap
    for start, end, colour, title in spans:
        x0, x1 = float(x(start)), float(x(end))
        body.append(f'<rect x="{x0:.1f}" y="{pad_t}" width="{max(x1 - x0, 1.5):.1f}" height="{bottom - pad_t}" '
                    f'fill="{colour}" fill-opacity="0.3"><title>{escape(title)}</title></rect>')
    for i, row in enumerate(rows):
        top = pad_t + i * (panel_h + gap)
        body.append(f'<rect x="{pad_l}" y="{top}" width="{plot_w}" height="{panel_h}" fill="none" stroke="{MUTED}"/>')
        body.append(_text(pad_l - 6, top + panel_h / 2 - 2, row["name"], 10, "end"))
        body.append(_text(pad_l - 6, top + panel_h / 2 + 10, row.get("unit", ""), 9, "end", "#78909c"))
        xs, ys = x(row["x"]), np.asarray(row["y"], dtype=float)
        finite = ys[np.isfinite(ys)]
        if not len(finite):
            continue
        if row.get("binary"):
            body += _runs(xs, ys > 0.5, top + 0.2 * panel_h, 0.8 * panel_h, pad_l + plot_w)
            continue
        lo, hi = float(finite.min()), float(finite.max())
        span = (hi - lo) or max(abs(hi), 1.0)
        lo, hi = lo - 0.06 * span, hi + 0.06 * span
        py = top + panel_h - panel_h * (ys - lo) / (hi - lo)
        body += [_text(pad_l + 3, top + 10, _num(hi), 8, color="#78909c"),
                 _text(pad_l + 3, top + panel_h - 3, _num(lo), 8, color="#78909c")]
        body += _polylines(xs, py, np.isfinite(ys))
    for seconds, text in ticks:
        tx = float(x(seconds))
        body += [f'<line x1="{tx:.1f}" y1="{bottom}" x2="{tx:.1f}" y2="{bottom + 4}" stroke="{INK}"/>',
                 _text(tx, bottom + 14, text, 9, "middle")]
    return _svg(width, height, body, label)


def _polylines(xs: np.ndarray, ys: np.ndarray, valid: np.ndarray) -> list[str]:
    """One polyline per run of valid points (a gap in the data is a gap in the line)."""
    out = []
    edges = np.flatnonzero(np.diff(np.r_[0, valid.astype(np.int8), 0]))
    for a, b in zip(edges[::2], edges[1::2]):
        pts = " ".join(f"{px:.1f},{py:.1f}" for px, py in zip(xs[a:b], ys[a:b]))
        if b - a == 1:
            out.append(f'<circle cx="{xs[a]:.1f}" cy="{ys[a]:.1f}" r="1" fill="{INK}"/>')
        else:
            out.append(f'<polyline points="{pts}" fill="none" stroke="{INK}" stroke-width="0.8"/>')
    return out


def _runs(xs: np.ndarray, on: np.ndarray, y: float, h: float, x_end: float) -> list[str]:
    """A binary signal as one filled bar per run of 'on' readings (each lasts to the next reading)."""
    out = []
    edges = np.flatnonzero(np.diff(np.r_[0, on.astype(np.int8), 0]))
    for a, b in zip(edges[::2], edges[1::2]):
        x1 = xs[b] if b < len(xs) else x_end
        out.append(f'<rect x="{xs[a]:.1f}" y="{y:.1f}" width="{max(x1 - xs[a], 1.0):.1f}" height="{h:.1f}" fill="{INK}"/>')
    return out


def curves(series: dict[str, tuple[list[float], list[float]]], colors: dict[str, str], *, x_label: str,
           y_label: str, width: int = 560, height: int = 380, label: str = "curves") -> str:
    """Lines on a unit square (e.g. precision against recall), with a legend below."""
    pad_l, pad_r, pad_t = 44, 12, 10
    pad_b = 44 + 14 * math.ceil(len(series) / 2)
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    body = [_rect(pad_l, pad_t, plot_w, plot_h, "#fafafa")]
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        gx, gy = pad_l + plot_w * v, pad_t + plot_h * (1 - v)
        body += [f'<line x1="{pad_l}" y1="{gy:.1f}" x2="{pad_l + plot_w}" y2="{gy:.1f}" stroke="#eceff1"/>',
                 f'<line x1="{gx:.1f}" y1="{pad_t}" x2="{gx:.1f}" y2="{pad_t + plot_h}" stroke="#eceff1"/>',
                 _text(pad_l - 4, gy + 3, f"{v:g}", 9, "end"), _text(gx, pad_t + plot_h + 12, f"{v:g}", 9, "middle")]
    body += [_text(pad_l + plot_w / 2, pad_t + plot_h + 26, x_label, 10, "middle"),
             f'<text x="12" y="{pad_t + plot_h / 2:.1f}" font-size="10" text-anchor="middle" fill="{INK}" '
             f'font-family="sans-serif" transform="rotate(-90 12 {pad_t + plot_h / 2:.1f})">{escape(y_label)}</text>']
    for name, (xv, yv) in series.items():
        pts = " ".join(f"{pad_l + plot_w * a:.1f},{pad_t + plot_h * (1 - b):.1f}" for a, b in zip(xv, yv))
        body.append(f'<polyline points="{pts}" fill="none" stroke="{colors.get(name, INK)}" stroke-width="1.8">'
                    f"<title>{escape(name)}</title></polyline>")
    for i, name in enumerate(series):
        lx, ly = pad_l + (i % 2) * plot_w / 2, pad_t + plot_h + 42 + 14 * (i // 2)
        body += [_rect(lx, ly - 8, 9, 9, colors.get(name, INK)), _text(lx + 13, ly, name, 9)]
    return _svg(width, height, body, label)


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
