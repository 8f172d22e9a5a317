#!/usr/bin/env python3
"""Plots a bench/soak_hostile.py run (its --json file) as a small SVG: RSS (MiB), open
descriptors and the /health p99 (ms) per sample over time, one panel each, no dependencies.

    python3 bench/soak_plot.py soak.json docs/soak_hostile.svg
"""

from __future__ import annotations

import json
import sys

PANELS = (("rss_mib", "RSS (MiB)", "#1f77b4"), ("fds", "open descriptors", "#2ca02c"),
          ("health_p99_ms", "/health p99 per sample (ms)", "#d62728"))
W, H, LEFT, TOP, GAP = 640, 120, 60, 20, 30


def panel(samples, key, title, colour, y0):
    ts = [s["t_s"] for s in samples]
    vs = [s[key] for s in samples]
    t_max, v_max = max(ts) or 1, max(vs) or 1
    x = lambda t: LEFT + (W - LEFT - 10) * t / t_max
    y = lambda v: y0 + H - H * v / v_max
    points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(ts, vs))
    return [
        f'<text x="{LEFT}" y="{y0 - 5}" font-size="12">{title}</text>',
        f'<line x1="{LEFT}" y1="{y0 + H}" x2="{W - 10}" y2="{y0 + H}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{y0}" x2="{LEFT}" y2="{y0 + H}" stroke="#888"/>',
        f'<text x="{LEFT - 5}" y="{y0 + 10}" font-size="10" text-anchor="end">{v_max:g}</text>',
        f'<text x="{LEFT - 5}" y="{y0 + H}" font-size="10" text-anchor="end">0</text>',
        f'<text x="{W - 10}" y="{y0 + H + 12}" font-size="10" text-anchor="end">{t_max} s</text>',
        f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>',
    ]


def main():
    samples = json.load(open(sys.argv[1]))["samples"]
    height = TOP + len(PANELS) * (H + GAP + 10)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
           f'font-family="sans-serif">', f'<rect width="{W}" height="{height}" fill="white"/>']
    for i, (key, title, colour) in enumerate(PANELS):
        out += panel(samples, key, title, colour, TOP + i * (H + GAP + 10))
    out.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
