"""`hubs generate`: landing files for a coherent fictional group, deterministic per seed.

The hubs are simulated in the order they depend on each other: the cast (parties, the group's
companies and people), Origin's fleet, OpenHaul's brokerage (which takes over the loads of
Origin's intercompany trips), the books both imply, the corporate records, and G's command
hub, which measures its goals on all of the above. Hub 4 is written last, from every party
the others registered.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from hubs.generate.command import Command
from hubs.generate.corporate import Corporate
from hubs.generate.defects import inject
from hubs.generate.financial import Books
from hubs.generate.openhaul import OpenHaulBrokerage
from hubs.generate.origin import OriginFleet
from hubs.generate.spool import Spool
from hubs.generate.staff import Staff
from hubs.generate.world import World

EXPECTED_FILE = ".expected.json"  # hidden: the loader skips it
STAMP_FILE = ".generated"  # hidden too: what wrote the folder (generator source, scale, seed)
BAD_SHARE = 0.005


@dataclass(frozen=True)
class Generated:
    files: dict[str, int]  # file name -> rows written
    expected: dict[str, dict]  # entity -> {"rows", "quarantined", "defects": {kind: rows}}


def build_rows(scale: float, seed: int) -> dict[str, list[dict] | Spool]:
    """Every entity's good rows, keyed by '<schema>.<table>'; the largest tables are spools."""
    rng = random.Random(seed)
    world = World(rng)
    staff = Staff(rng, world)
    origin = OriginFleet(rng, scale, world).simulate()
    openhaul = OpenHaulBrokerage(rng, scale, world, origin, staff).simulate()
    books = Books(rng, world, openhaul, origin).simulate()
    corporate = Corporate(rng, world, origin).simulate()
    command = Command(rng, world, staff, openhaul, origin).simulate()
    hubs = {
        "hub1_command": command.rows_by_table(),
        "hub2_openhaul": openhaul.rows_by_table(),
        "hub3_origin": origin.rows_by_table(),
        "hub5_financial": books.rows_by_table(),
        "hub6_corporate": corporate.rows_by_table(),
        "hub4_contacts": world.rows(),
    }
    return {f"{hub}.{table}": rows for hub, tables in hubs.items() for table, rows in tables.items()}


def write_csv(path: Path, *parts: list[dict] | Spool) -> None:
    """The rows of every part, in order, under every column any of them has."""
    columns: list[str] = []
    for part in parts:
        for column in part.columns if isinstance(part, Spool) else (k for row in part for k in row):
            if column not in columns:
                columns.append(column)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for part in parts:
            writer.writerows(part)


def generate(scale: float, seed: int, out: Path, bad_share: float = BAD_SHARE) -> Generated:
    if scale <= 0:
        raise ValueError("scale must be positive")
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed + 1)
    files: dict[str, int] = {}
    expected: dict[str, dict] = {}
    tables = build_rows(scale, seed)
    for stem in sorted(tables):
        rows = tables.pop(stem)  # written, then let go
        bad, defects = inject(rng, stem, rows, bad_share)
        name = f"{stem}.csv"
        write_csv(out / name, rows, bad)
        files[name] = len(rows) + len(bad)
        expected[stem] = {"rows": files[name], "quarantined": sum(defects.values()), "defects": defects}
        if isinstance(rows, Spool):
            rows.close()
    (out / EXPECTED_FILE).write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    (out / STAMP_FILE).write_text(_stamp(scale, seed, bad_share))  # last: the folder is complete
    return Generated(files, expected)


def _stamp(scale: float, seed: int, bad_share: float) -> str:
    source = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        source.update(path.read_bytes())
    return json.dumps({"generator": source.hexdigest(), "scale": scale, "seed": seed, "bad_share": bad_share}) + "\n"


def generated_before(scale: float, seed: int, out: Path, bad_share: float = BAD_SHARE) -> Generated | None:
    """What `generate` wrote into `out` earlier with the same arguments and the same generator code
    (it is deterministic, so the files would come out the same), or None."""
    stamp = out / STAMP_FILE
    if not stamp.exists() or stamp.read_text() != _stamp(scale, seed, bad_share):
        return None
    expected = json.loads((out / EXPECTED_FILE).read_text())
    files = {f"{stem}.csv": entity["rows"] for stem, entity in expected.items()}
    if not all((out / name).exists() for name in files):
        return None
    return Generated(files, expected)
