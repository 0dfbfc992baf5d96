"""`hubs generate`: landing files for a coherent fictional group, deterministic per seed."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

from hubs.generate.defects import inject
from hubs.generate.origin import OriginFleet

EXPECTED_FILE = ".expected.json"  # hidden: the loader skips it
BAD_SHARE = 0.005


@dataclass(frozen=True)
class Generated:
    files: dict[str, int]  # file name -> rows written
    expected: dict[str, dict]  # entity -> {"rows", "quarantined", "defects": {kind: rows}}


def build_rows(scale: float, seed: int) -> dict[str, list[dict]]:
    """Every entity's good rows, keyed by '<schema>.<table>'."""
    rng = random.Random(seed)
    origin = OriginFleet(rng, scale).simulate()
    return {f"hub3_origin.{table}": rows for table, rows in origin.items()}


def write_csv(path: Path, rows: list[dict]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def generate(scale: float, seed: int, out: Path, bad_share: float = BAD_SHARE) -> Generated:
    if scale <= 0:
        raise ValueError("scale must be positive")
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed + 1)
    files: dict[str, int] = {}
    expected: dict[str, dict] = {}
    for stem, rows in sorted(build_rows(scale, seed).items()):
        all_rows, defects = inject(rng, stem, rows, bad_share)
        name = f"{stem}.csv"
        write_csv(out / name, all_rows)
        files[name] = len(all_rows)
        expected[stem] = {"rows": len(all_rows), "quarantined": sum(defects.values()), "defects": defects}
    (out / EXPECTED_FILE).write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    return Generated(files, expected)
