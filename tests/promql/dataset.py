"""The side-by-side data set: the same samples as OpenMetrics (for `promtool tsdb
create-blocks-from openmetrics`) and as InfluxDB line protocol (for fleetpulse).

60 devices x 5 metrics = 300 series over 3 hours from T0, each at its own uneven interval
(base 10..60 s, jitter +-40 %), with gaps longer than the 5-minute lookback, counter resets and
large counters. Deterministic (seeded). fleetpulse refuses non-finite values at ingest, so
NaN and +-Inf enter through the expressions (division by zero, ln of negatives, literals).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

T0_MS = 1_764_547_200_000  # 2025-12-01T00:00:00Z
SPAN_MS = 3 * 3600 * 1000
TYPES = ["sensor", "gateway", "tracker"]
LOCATIONS = ["north", "south", "east", "west"]
METRICS = ["temperature", "humidity", "requests_total", "bytes_total", "errors_total"]


@dataclass
class Device:
    device_id: str
    type: str
    location: str  # "" for none


@dataclass
class SeriesData:
    device: Device
    metric: str  # fleetpulse field name; the Prometheus name is "fp_" + metric
    points: list[tuple[int, float]] = field(default_factory=list)


def _exact_ms(t: int) -> int:
    """A timestamp whose seconds text promtool reads back as exactly t (it truncates
    float(seconds) * 1000)."""
    while int(float(f"{t // 1000}.{t % 1000:03d}") * 1000) != t:
        t += 1
    return t


def generate(seed: int = 42) -> tuple[list[Device], list[SeriesData]]:
    rng = random.Random(seed)
    devices = []
    for i in range(60):
        loc = "" if i % 7 == 3 else LOCATIONS[i % 4]
        devices.append(Device(f"dev-{i:03d}", TYPES[i % 3], loc))
    series = []
    for d in devices:
        for metric in METRICS:
            s = SeriesData(d, metric)
            base = rng.choice([10_000, 15_000, 30_000, 45_000, 60_000])
            if metric == "errors_total":
                base = rng.choice([120_000, 180_000, 300_000])
            gaps = []
            for _ in range(rng.choice([0, 1, 1, 2])):
                start = T0_MS + rng.randrange(0, SPAN_MS)
                gaps.append((start, start + rng.randrange(6 * 60_000, 25 * 60_000)))
            t = T0_MS + rng.randrange(0, base)
            value = {
                "temperature": rng.uniform(15, 30),
                "humidity": rng.uniform(30, 90),
                "requests_total": float(rng.randrange(0, 1000)),
                "bytes_total": float(rng.randrange(10**9, 10**10)),
                "errors_total": float(rng.randrange(0, 5)),
            }[metric]
            while t < T0_MS + SPAN_MS:
                if not any(a <= t < b for a, b in gaps):
                    t = _exact_ms(t)
                    s.points.append((t, round(value, 6) if metric in ("temperature", "humidity") else value))
                if metric == "temperature":
                    value += rng.uniform(-0.7, 0.7)
                elif metric == "humidity":
                    value = min(100.0, max(0.0, value + rng.uniform(-2, 2)))
                elif metric == "requests_total":
                    value = float(rng.randrange(0, 30)) if rng.random() < 0.01 else value + rng.randrange(0, 25)
                elif metric == "bytes_total":
                    value = float(rng.randrange(0, 10**6)) if rng.random() < 0.005 else value + rng.randrange(0, 10**6)
                else:
                    value = 0.0 if rng.random() < 0.03 else value + rng.randrange(0, 3)
                t += int(base * rng.uniform(0.6, 1.4))
            series.append(s)
    return devices, series


def openmetrics(series: list[SeriesData]) -> str:
    out = []
    for metric in METRICS:
        out.append(f"# TYPE fp_{metric} gauge")
        for s in series:
            if s.metric != metric:
                continue
            labels = [f'device_id="{s.device.device_id}"']
            if s.device.location:
                labels.append(f'location="{s.device.location}"')
            labels.append(f'type="{s.device.type}"')
            lbl = "{" + ",".join(labels) + "}"
            for t, v in s.points:
                out.append(f"fp_{metric}{lbl} {v!r} {t // 1000}.{t % 1000:03d}")
    out.append("# EOF")
    return "\n".join(out) + "\n"


def line_protocol(series: list[SeriesData]) -> list[str]:
    """Lines `fp,device_id=D <metric>=<v> <ms>` (written with precision=ms)."""
    return [f"fp,device_id={s.device.device_id} {s.metric}={v!r} {t}"
            for s in series for t, v in s.points]
