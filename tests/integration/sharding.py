"""Splits the black-box suite into shards that ctest runs side by side (`--fp-shard i/N`).

Whole files go to one shard (module-scoped servers stay shared within a file). Files are
placed longest first on the least loaded shard, by the seconds in `file_seconds.txt` (a file
not listed counts as the median), so every file runs in exactly one shard and the shards take
about as long as each other.
"""

from __future__ import annotations

from pathlib import Path
from statistics import median

WEIGHTS_FILE = Path(__file__).with_name("file_seconds.txt")


def parse_shard(spec: str) -> tuple[int, int]:
    """'2/4' -> (2, 4); raises ValueError with the reason for anything else."""
    try:
        index_text, count_text = spec.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise ValueError(f"--fp-shard wants i/N (e.g. 2/4), got {spec!r}") from None
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"--fp-shard {spec!r}: need 1 <= i <= N")
    return index, count


def load_weights(path: Path = WEIGHTS_FILE) -> dict[str, float]:
    weights: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                name, seconds = line.split()
                weights[name] = float(seconds)
    return weights


def assign(files: list[str], count: int, weights: dict[str, float]) -> dict[str, int]:
    """File name -> shard number (1-based); deterministic for the same inputs."""
    default = median(weights.values()) if weights else 1.0
    load = [0.0] * count
    shard_of: dict[str, int] = {}
    for name in sorted(files, key=lambda f: (-weights.get(f, default), f)):
        target = min(range(count), key=lambda s: (load[s], s))
        load[target] += weights.get(name, default)
        shard_of[name] = target + 1
    return shard_of
