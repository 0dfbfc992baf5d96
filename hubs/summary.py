"""What the system of record holds, entity by entity (landed = accepted + quarantined), and what
the derived stores hold."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2 import sql

from hubs.catalog import Catalog
from hubs.db import connect, relation_exists
from hubs.settings import Settings


@dataclass(frozen=True)
class EntityCounts:
    entity: str
    landed: int
    accepted: int
    quarantined: int
    current: int

    @property
    def reconciled(self) -> bool:
        return self.landed == self.accepted + self.quarantined


def _count(cur, schema: str, table: str, where: str = "true") -> int:
    if not relation_exists(cur, schema, table):
        return 0
    cur.execute(sql.SQL("select count(*) from {} where " + where).format(sql.Identifier(schema, table)))
    return int(cur.fetchone()[0])


def entity_counts(settings: Settings, catalog: Catalog) -> list[EntityCounts]:
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            has_quarantine = relation_exists(cur, "quarantine", "rows")
            rows = []
            for e in catalog.entities:
                quarantined = 0
                if has_quarantine:
                    cur.execute("select count(*) from quarantine.rows where entity = %s", (e.qualified_name,))
                    quarantined = int(cur.fetchone()[0])
                rows.append(
                    EntityCounts(
                        entity=e.qualified_name,
                        landed=_count(cur, "landing", e.landing_table),
                        accepted=_count(cur, "staging", f"stg_{e.landing_table}", "_accepted"),
                        quarantined=quarantined,
                        current=_count(cur, e.schema, e.table),
                    )
                )
            return rows
    finally:
        conn.close()


def format_counts(rows: list[EntityCounts]) -> str:
    header = f"  {'entity':38} {'landed':>9} {'accepted':>9} {'quarantined':>11} {'in hub':>8}"
    lines = [header, "  " + "-" * (len(header) - 2)]
    for r in rows:
        flag = "" if r.reconciled else "   <- landed != accepted + quarantined (not yet staged?)"
        lines.append(f"  {r.entity:38} {r.landed:9,} {r.accepted:9,} {r.quarantined:11,} {r.current:8,}{flag}")
    total = [sum(getattr(r, f) for r in rows) for f in ("landed", "accepted", "quarantined", "current")]
    lines.append(f"  {'total':38} {total[0]:9,} {total[1]:9,} {total[2]:11,} {total[3]:8,}")
    return "\n".join(lines)


def store_sizes(settings: Settings, catalog: Catalog) -> dict[str, dict[str, int] | str]:
    """Each derived store's counts, or why they could not be read (a store that is down)."""
    from hubs.db import connect
    from hubs.sync.stores import STORES, StoreUnavailable, opened

    sizes: dict[str, dict[str, int] | str] = {}
    conn = connect(settings)  # what a store keeps in PostgreSQL (relationships waiting for a node)
    try:
        for kind in STORES:
            try:
                with opened(kind, settings, catalog) as store:
                    store.begin(conn)
                    sizes[kind] = store.size(catalog)
            except StoreUnavailable as exc:
                sizes[kind] = f"unavailable: {exc}"
    finally:
        conn.close()
    return sizes


def format_sizes(sizes: dict[str, dict[str, int] | str]) -> str:
    lines = []
    for kind, size in sizes.items():
        text = size if isinstance(size, str) else ", ".join(f"{n:,} {what}" for what, n in size.items())
        lines.append(f"  {kind:9} {text}")
    return "\n".join(lines)
