"""Phase 1's migration checks: does every legacy row have a home, and does the hub hold what the
legacy row says?

Per mapping view (one target entity), with the legacy system read live through the foreign tables:
- accounting: each legacy row the mapping calls a `row` is in the hub table (its key is there) or
  in quarantine (its landed row is, traced by hubs_meta.legacy_rows); `merged` and `deleted` rows
  are counted, not extracted. A row in neither place is unaccounted: never silently dropped.
- reconciliation: for each mapped row in the hub, every mapped column compared with the hub's
  value, cast to the hub's type (a hash diff per key, column by column so a failure names the
  column). A row that was quarantined since (a later change the hub refused) is not compared: the
  hub rightly keeps the last accepted version, and the row is accounted as quarantined.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog, Entity
from hubs.migrate.extract import MAP_SCHEMA, STATE_DDL, landing_columns, mapping_views

SAMPLE = 5


@dataclass
class EntityReconciliation:
    entity: str
    view: str
    legacy_rows: int = 0  # every row the view returns
    mapped: int = 0  # of them, `row`: to be in the hub or in quarantine
    merged: int = 0
    deleted: int = 0
    in_hub: int = 0
    quarantined: int = 0
    unaccounted: int = 0
    compared: int = 0
    mismatched: int = 0
    hub_rows: int = 0
    unaccounted_sample: list[str] = field(default_factory=list)
    mismatch_sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.unaccounted == 0 and self.mismatched == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _key_match(entity: Entity, left: str, right: str) -> sql.Composable:
    return sql.SQL(" and ").join(
        sql.SQL("{}.{}::text = {}.{}::text").format(
            sql.Identifier(left), sql.Identifier(k), sql.Identifier(right), sql.Identifier(k)
        )
        for k in entity.primary_key
    )


def _accounting(cur: Any, view: str, entity: Entity, result: EntityReconciliation) -> None:
    params = {"entity": entity.qualified_name}
    cur.execute(
        sql.SQL(
            "create temporary table _legacy_home on commit drop as"
            " select m._legacy_table, m._legacy_id, m._legacy_role,"
            " exists (select 1 from {hub} as h where {match}) as in_hub,"
            " exists (select 1 from hubs_meta.legacy_rows as s join quarantine.rows as q"
            " on q.file_id = s.file_id and q.row_number = s.row_number"
            " where s.entity = %(entity)s and s.legacy_table = m._legacy_table and s.legacy_id = m._legacy_id)"
            " as quarantined"
            " from {view} as m"
        ).format(
            hub=sql.Identifier(entity.schema, entity.table),
            match=_key_match(entity, "h", "m"),
            view=sql.Identifier(MAP_SCHEMA, view),
        ),
        params,
    )
    cur.execute(
        "select count(*), count(*) filter (where _legacy_role = 'row'),"
        " count(*) filter (where _legacy_role = 'merged'),"
        " count(*) filter (where _legacy_role = 'deleted'),"
        " count(*) filter (where _legacy_role = 'row' and in_hub),"
        " count(*) filter (where _legacy_role = 'row' and quarantined),"
        " count(*) filter (where _legacy_role = 'row' and not in_hub and not quarantined)"
        " from _legacy_home"
    )
    (
        result.legacy_rows,
        result.mapped,
        result.merged,
        result.deleted,
        result.in_hub,
        result.quarantined,
        result.unaccounted,
    ) = cur.fetchone()
    cur.execute(
        "select _legacy_table || ' ' || _legacy_id from _legacy_home"
        " where _legacy_role = 'row' and not in_hub and not quarantined order by 1 limit %s",
        (SAMPLE,),
    )
    result.unaccounted_sample = [name for (name,) in cur.fetchall()]
    cur.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(entity.schema, entity.table)))
    result.hub_rows = cur.fetchone()[0]


def _differences(entity: Entity, columns: list[str]) -> sql.Composable:
    """An array of the mapped columns whose legacy value (cast to the hub's type) differs."""
    types = {c.name: c.data_type for c in entity.columns}
    parts = []
    for name in columns:
        value = sql.SQL("case when pg_input_is_valid(m.{col}, {type}) then m.{col}::{cast} end").format(
            col=sql.Identifier(name), type=sql.Literal(types[name]), cast=sql.SQL(types[name])
        )
        parts.append(
            sql.SQL("case when {value} is distinct from h.{col} then {name} end").format(
                value=value, col=sql.Identifier(name), name=sql.Literal(name)
            )
        )
    return sql.SQL("array_remove(array[{}]::text[], null)").format(sql.SQL(", ").join(parts))


def _reconciliation(cur: Any, view: str, entity: Entity, result: EntityReconciliation) -> None:
    columns = landing_columns(cur, view, entity)
    cur.execute(
        sql.SQL(
            "select m._legacy_table, m._legacy_id, {differs} as differs"
            " from {view} as m join {hub} as h on {match}"
            " join _legacy_home as home on home._legacy_table = m._legacy_table and home._legacy_id = m._legacy_id"
            " where m._legacy_role = 'row' and not home.quarantined"
        ).format(
            differs=_differences(entity, columns),
            view=sql.Identifier(MAP_SCHEMA, view),
            hub=sql.Identifier(entity.schema, entity.table),
            match=_key_match(entity, "h", "m"),
        )
    )
    rows = cur.fetchall()
    result.compared = len(rows)
    wrong = [(table, legacy_id, differs) for table, legacy_id, differs in rows if differs]
    result.mismatched = len(wrong)
    result.mismatch_sample = [{"legacy_row": f"{t} {i}", "columns": d} for t, i, d in wrong[:SAMPLE]]


def reconcile(conn: Connection, catalog: Catalog) -> list[EntityReconciliation]:
    """Every mapped entity accounted for and compared; nothing is written."""
    with conn.cursor() as cur:
        cur.execute(STATE_DDL)  # before any extraction, every legacy row is unaccounted
    conn.commit()
    results = []
    for view, entity in mapping_views(conn, catalog).items():
        result = EntityReconciliation(entity.qualified_name, view)
        try:
            with conn.cursor() as cur:
                _accounting(cur, view, entity, result)
                _reconciliation(cur, view, entity, result)
        finally:
            conn.rollback()
        results.append(result)
    return results
