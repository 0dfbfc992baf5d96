"""What the system of record holds, entity by entity (landed = accepted + quarantined, the
current rows and the versions kept in history), and what the derived stores hold."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog
from hubs.db import connect, relation_exists
from hubs.secrets import scrub
from hubs.settings import Settings

# Read under the table: "in hub" alone read like rows lost between accepted and the hub.
LEGEND = (
    "  current: rows in the hub table now, one per key (an update replaces its row, a delete removes it);\n"
    "  versions: every version of a versioned entity, in <table>_history ('-': the entity keeps no"
    " separate history)"
)


@dataclass(frozen=True)
class EntityCounts:
    entity: str
    landed: int
    accepted: int
    quarantined: int
    current: int
    versions: int | None = None  # rows of <table>_history; None for an entity without one

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
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            has_quarantine = relation_exists(cur, "quarantine", "rows")
            rows = []
            for e in catalog.entities:
                quarantined = 0
                if has_quarantine:
                    cur.execute("select count(*) from quarantine.rows where entity = %s", (e.qualified_name,))
                    quarantined = int(cur.fetchone()[0])
                versioned = e.history == "scd2"
                rows.append(
                    EntityCounts(
                        entity=e.qualified_name,
                        landed=_count(cur, "landing", e.landing_table),
                        accepted=_count(cur, "staging", f"stg_{e.landing_table}", "_accepted"),
                        quarantined=quarantined,
                        current=_count(cur, e.schema, e.table),
                        versions=_count(cur, e.schema, f"{e.table}_history") if versioned else None,
                    )
                )
            return rows
    finally:
        conn.close()


def format_counts(rows: list[EntityCounts]) -> str:
    header = f"  {'entity':38} {'landed':>9} {'accepted':>9} {'quarantined':>11} {'current':>9} {'versions':>9}"
    lines = [header, "  " + "-" * (len(header) - 2)]

    def versions(n: int | None) -> str:
        return f"{n:9,}" if n is not None else f"{'-':>9}"

    for r in rows:
        flag = "" if r.reconciled else "   <- landed != accepted + quarantined (not yet staged?)"
        lines.append(
            f"  {r.entity:38} {r.landed:9,} {r.accepted:9,} {r.quarantined:11,} {r.current:9,}"
            f" {versions(r.versions)}{flag}"
        )
    total = [sum(getattr(r, f) for r in rows) for f in ("landed", "accepted", "quarantined", "current")]
    history = sum(r.versions or 0 for r in rows)
    lines.append(f"  {'total':38} {total[0]:9,} {total[1]:9,} {total[2]:11,} {total[3]:9,} {history:9,}")
    lines.append(LEGEND)
    return "\n".join(lines)


def store_size(kind: str, settings: Settings, catalog: Catalog, conn: Connection) -> dict[str, int] | str:
    """One derived store's counts, or in a line why they could not be read (a store that is down).
    `conn` is for what a store keeps in PostgreSQL (relationships waiting for a node)."""
    from hubs.sync.stores import StoreUnavailable, opened

    try:
        with opened(kind, settings, catalog) as store:
            store.begin(conn)
            return store.size(catalog)
    except StoreUnavailable as exc:
        return f"unavailable: {exc}"
    except Exception as exc:  # a summary names every store's trouble instead of stopping at the first
        first = scrub(str(exc)).strip().splitlines()
        return f"unavailable: {type(exc).__name__}: {first[0] if first else ''}".rstrip(": ")
    finally:
        conn.rollback()


def store_sizes(settings: Settings, catalog: Catalog) -> dict[str, dict[str, int] | str]:
    """Each derived store's counts, or why they could not be read (a store that is down)."""
    from hubs.sync.stores import STORES

    conn = connect(settings)
    try:
        return {kind: store_size(kind, settings, catalog, conn) for kind in STORES}
    finally:
        conn.close()


def format_size(size: dict[str, int] | str) -> str:
    return size if isinstance(size, str) else ", ".join(f"{n:,} {what}" for what, n in size.items())


def format_sizes(sizes: dict[str, dict[str, int] | str]) -> str:
    return "\n".join(f"  {kind:9} {format_size(size)}" for kind, size in sizes.items())
