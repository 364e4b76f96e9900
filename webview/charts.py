"""The web view's pictures, drawn on the server as SVG from Prometheus's range queries: each GPU node's
utilisation and temperature over the last hours, and the cluster's GPU occupancy over the last week.

Server-side SVG rather than a chart library: the page needs no script (its Content-Security-Policy
allows none), nothing is fetched by the browser, and three line charts need no more than this.
Standard library only.
"""

from __future__ import annotations

import html
import json
import time
import urllib.parse
import urllib.request

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
HOURS = 6  # the per-node charts' span
WEEK_S = 7 * 24 * 3600
UTIL = "avg by (node) (gpucluster_gpu_utilization_ratio)"
TEMPERATURE = "max by (node) (gpucluster_gpu_temperature_celsius)"
# each point the hour's mean, so a day's short jobs count whatever the minute the query lands on
OCCUPANCY = (
    "sum(avg_over_time(gpucluster_slurm_node_gpus_allocated[1h]))"
    " / sum(avg_over_time(gpucluster_slurm_node_gpus[1h]))"
)
CHARTS = (
    # id, title, PromQL, span (s), step (s), y axis top (None: from the data), unit, scale
    ("gpu-util", f"GPU utilisation per node, last {HOURS} h", UTIL, HOURS * 3600, 60, 100, "%", 100),
    ("gpu-temp", f"GPU temperature per node, last {HOURS} h", TEMPERATURE, HOURS * 3600, 60, None, "°C", 1),
    ("occupancy", "GPUs allocated to jobs, cluster, last 7 days", OCCUPANCY, WEEK_S, 3600, 100, "%", 100),
)


def query_range(
    url: str, promql: str, start: float, end: float, step: int, timeout: float = 10
) -> list[dict]:
    params = urllib.parse.urlencode(
        {"query": promql, "start": f"{start:.0f}", "end": f"{end:.0f}", "step": step}
    )
    with urllib.request.urlopen(
        f"{url.rstrip('/')}/api/v1/query_range?{params}", timeout=timeout
    ) as response:
        answer = json.loads(response.read())
    if answer.get("status") != "success":
        raise ValueError(answer.get("error", "Prometheus refused the query"))
    return answer["data"]["result"]


def series_of(result: list[dict], scale: float) -> dict[str, list[tuple[float, float]]]:
    """{node (or 'cluster'): [(time, value * scale), ...]} from a range query's matrix."""
    return {
        r["metric"].get("node", "cluster"): [
            (float(t), float(v) * scale) for t, v in r["values"] if v != "NaN"
        ]
        for r in result
    }


def svg(
    chart_id: str, title: str, series: dict, start: float, end: float, top: float | None, unit: str
) -> str:
    """One line chart: a line per series, the y axis from 0 to `top`, the time axis from start to end."""
    width, height, left, right, upper, lower = 720, 200, 48, 90, 26, 24
    values = [v for points in series.values() for _, v in points]
    top = top or max(10.0, (max(values) if values else 0) * 1.15)
    x = lambda t: left + (t - start) / max(end - start, 1) * (width - left - right)  # noqa: E731
    y = lambda v: upper + (1 - min(v, top) / top) * (height - upper - lower)  # noqa: E731
    parts = [
        f'<svg id="chart-{chart_id}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    for fraction in (0, 0.5, 1):
        level = y(top * fraction)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{level:.1f}" y2="{level:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{level + 4:.1f}" font-size="11" text-anchor="end">'
            f"{top * fraction:.0f}{html.escape(unit)}</text>"
        )
    for t, anchor in ((start, "start"), (end, "end")):
        label = time.strftime("%a %H:%M" if end - start > 86400 else "%H:%M", time.localtime(t))
        parts.append(
            f'<text x="{x(t):.1f}" y="{height - 6}" font-size="11" text-anchor="{anchor}">{label}</text>'
        )
    for i, (name, points) in enumerate(sorted(series.items())):
        colour = COLOURS[i % len(COLOURS)]
        if len(points) == 1:
            parts.append(
                f'<circle cx="{x(points[0][0]):.1f}" cy="{y(points[0][1]):.1f}" r="3" fill="{colour}"/>'
            )
        elif points:
            line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
            parts.append(
                f'<polyline class="series" data-name="{html.escape(name)}" fill="none" stroke="{colour}" '
                f'stroke-width="1.5" points="{line}"/>'
            )
        legend = f'x="{width - right + 8}" y="{upper + 14 * i + 8}" font-size="11" fill="{colour}"'
        parts.append(f"<text {legend}>{html.escape(name)}</text>")
    if not values:
        parts.append(
            f'<text x="{left + 10}" y="{height / 2:.0f}" font-size="12" fill="#666">no data yet</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def draw(url: str, now: float) -> list[str]:
    """Every chart as SVG, from Prometheus at `url` (an error propagates: the page shows it once)."""
    drawn = []
    for chart_id, title, promql, span, step, top, unit, scale in CHARTS:
        series = series_of(query_range(url, promql, now - span, now, step), scale)
        drawn.append(svg(chart_id, title, series, now - span, now, top, unit))
    return drawn
