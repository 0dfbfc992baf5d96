"""Generations of the system of record (PostgreSQL), for migration phase 1's rollback.

The derived stores publish a generation by switching a pointer. The record cannot be built
beside itself the same way: dbt builds the hubs incrementally in place, and every reader, check
and sync reads the hub schemas by their names. So phase 1 writes in place, and what it replaces
is kept instead: before the phase writes, the record as it is (the published generation) is
copied into the schema `hubs_record__g<n>`, in one snapshot. A go publishes what the phase
wrote; a no-go, a crashed run or `hubs migrate rollback 1` restores the copy in ONE transaction
(the tables that changed since the copy, and those referencing them, emptied and refilled): a
reader waits for it and then sees the restored record, never a half. The copy costs a read of
the record per phase-1 run; the restore a scan of it and a write of what changed (see README).

The record is every table of the landing, staging, quarantine, audit and hub schemas and of
hubs_meta, but for the tables that describe the derived stores and the migration itself (they
have their own generations, or are history that must outlive a rollback). Sequences are not
restored: landing sequence numbers only move forward, so a restored record and a derived store
that read past it can be told apart (`ahead`).
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog
from hubs.sync import generations, state
from hubs.sync.generations import GenerationRefused, family, sync_name

STORE = "postgres"
COPY_PREFIX = "hubs_record__g"
#: schemas of the record besides the catalog's hub schemas
PLATFORM_SCHEMAS = ("landing", "staging", "quarantine", "hubs_audit", "hubs_meta")
#: hubs_meta tables that are not the record: the derived stores' state and the migration's own
#: registries (a rollback is recorded in them; it must not erase them)
NOT_RECORD = ("generations", "migration_gates", "sync_state", "audit_state", "schema_state", "graph_pending_edges")
#: how long a restore waits for readers and writers to let go of the record's tables
LOCK_TIMEOUT = "60s"


def _transactional(conn: Connection) -> None:
    # a copy on one snapshot and a restore no reader sees half of both need a transaction
    if conn.autocommit:
        raise ValueError("copying or restoring the record needs a connection that is not in autocommit")


def copy_schema(generation: int) -> str:
    return f"{COPY_PREFIX}{generation}"


def record_schemas(catalog: Catalog) -> list[str]:
    return sorted(set(PLATFORM_SCHEMAS) | {e.schema for e in catalog.entities})


Table = tuple[str, str]


def _tables_and_parents(conn: Connection, schemas: Iterable[str]) -> tuple[dict[int, Table], dict[int, set[int]]]:
    with conn.cursor() as cur:
        cur.execute(
            "select c.oid, n.nspname, c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'p') and not c.relispartition and n.nspname = any(%s)"
            " and not (n.nspname = 'hubs_meta' and c.relname = any(%s)) order by 2, 3",
            (list(schemas), list(NOT_RECORD)),
        )
        tables = {oid: (schema, name) for oid, schema, name in cur.fetchall()}
        cur.execute(
            "select conrelid, confrelid from pg_constraint where contype = 'f' and conrelid = any(%s)",
            (list(tables),),
        )
        parents: dict[int, set[int]] = {oid: set() for oid in tables}
        for child, parent in cur.fetchall():
            if parent in tables and parent != child:
                parents[child].add(parent)
    return tables, parents


def _parents_first(tables: dict[int, Table], parents: dict[int, set[int]]) -> list[Table]:
    ordered: list[Table] = []
    placed: set[int] = set()
    while len(placed) < len(tables):
        ready = [oid for oid in tables if oid not in placed and parents[oid] <= placed]
        if not ready:  # a cycle of foreign keys: no order fills it row by row
            raise GenerationRefused(f"the record's foreign keys form a cycle among {sorted(tables.values())}")
        for oid in ready:
            placed.add(oid)
            ordered.append(tables[oid])
    return ordered


def record_tables(conn: Connection, schemas: Iterable[str]) -> list[Table]:
    """The record's tables that exist now, (schema, table), parents before the tables whose
    foreign keys reference them."""
    return _parents_first(*_tables_and_parents(conn, schemas))


def _with_children(changed: set[int], parents: dict[int, set[int]]) -> set[int]:
    """The changed tables and every table whose foreign keys reach one (TRUNCATE empties a
    referenced table only together with the tables referencing it)."""
    closure = set(changed)
    grew = True
    while grew:
        grew = False
        for child, its in parents.items():
            if child not in closure and its & closure:
                closure.add(child)
                grew = True
    return closure


def _columns(conn: Connection, schema: str, table: str) -> list[str]:
    """The columns a copy keeps and a restore writes (generated columns compute themselves)."""
    with conn.cursor() as cur:
        cur.execute(
            "select a.attname from pg_attribute as a where a.attrelid = %s::regclass"
            " and a.attnum > 0 and not a.attisdropped and a.attgenerated = '' order by a.attnum",
            (sql.Identifier(schema, table).as_string(conn),),
        )
        return [name for (name,) in cur.fetchall()]


def snapshot(conn: Connection, catalog: Catalog, generation: int) -> int:
    """Copy the record as it is now into generation `generation`'s copy (replacing an older copy
    of it), all tables in one snapshot; the rows copied."""
    schemas = record_schemas(catalog)
    target = copy_schema(generation)
    _transactional(conn)
    copied = 0
    conn.commit()  # the copy is one transaction of its own, on one snapshot
    try:
        with conn.cursor() as cur:
            cur.execute("set transaction isolation level repeatable read")
            cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(target)))
            cur.execute(sql.SQL("create schema {}").format(sql.Identifier(target)))
            cur.execute(
                sql.SQL("comment on schema {} is %s").format(sql.Identifier(target)),
                (f"The system of record as generation {generation} of store postgres (hubs_meta.generations).",),
            )
            for statement in (
                "create table {}._tables (position integer primary key, source_schema text not null,"
                " source_table text not null, columns text[] not null, rows bigint not null)",
                "create table {}._record (schemas text[] not null, taken_at timestamptz not null default now(),"
                " snapshot_xmin bigint not null default pg_snapshot_xmin(pg_current_snapshot())::text::bigint)",
            ):
                cur.execute(sql.SQL(statement).format(sql.Identifier(target)))
            cur.execute(
                sql.SQL("insert into {}._record (schemas) values (%s)").format(sql.Identifier(target)), (schemas,)
            )
            for position, (schema, table) in enumerate(record_tables(conn, schemas)):
                columns = _columns(conn, schema, table)
                cur.execute(
                    sql.SQL("create table {} as select {} from {}").format(
                        sql.Identifier(target, f"t{position}"),
                        sql.SQL(", ").join(map(sql.Identifier, columns)),
                        sql.Identifier(schema, table),
                    )
                )
                rows = cur.rowcount
                copied += rows
                cur.execute(
                    sql.SQL("insert into {} values (%s, %s, %s, %s, %s)").format(sql.Identifier(target, "_tables")),
                    (position, schema, table, columns, rows),
                )
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return copied


def has_copy(conn: Connection, generation: int) -> bool:
    with conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null", (f"{copy_schema(generation)}._tables",))
        return bool(cur.fetchone()[0])


def _changed(conn: Connection, table: Table, rows: int | None, horizon: int) -> bool:
    """Whether the table may differ from its copy: another row count, or a row written by a
    transaction the copy's snapshot may not have seen (its xmin at or past the snapshot's xmin;
    an update or an insert writes a new row version, a delete alone lowers the count)."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "select count(*), count(*) filter (where age(xmin) <= age((%s::bigint %% 4294967296)::text::xid))"
                " from {}"
            ).format(sql.Identifier(*table)),
            (horizon,),
        )
        count, newer = cur.fetchone()
    return count != (rows or 0) or newer > 0


def restore(conn: Connection, generation: int) -> int:
    """Make the record what generation `generation`'s copy holds, in the caller's transaction (not
    committed); the rows restored. Only what changed since the copy is rewritten: a table that
    changed (and the tables referencing it) is emptied and refilled; a table made after the copy
    was taken is emptied (it held nothing then)."""
    _transactional(conn)
    source = copy_schema(generation)
    if not has_copy(conn, generation):
        raise GenerationRefused(f"generation {generation} of the record has no copy ({source} was dropped)")
    restored = 0
    with conn.cursor() as cur:
        cur.execute(sql.SQL("select schemas, snapshot_xmin from {}").format(sql.Identifier(source, "_record")))
        schemas, horizon = cur.fetchone()
        cur.execute(
            sql.SQL("select position, source_schema, source_table, columns, rows from {}").format(
                sql.Identifier(source, "_tables")
            )
        )
        copies = {
            (schema, table): (position, columns, rows) for position, schema, table, columns, rows in cur.fetchall()
        }
        tables, parents = _tables_and_parents(conn, schemas)
        cur.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        if tables:  # no writer may change a table between its comparison and its restore; readers read on
            cur.execute(
                sql.SQL("lock table only {} in exclusive mode").format(
                    sql.SQL(", ").join(sql.Identifier(*t) for t in tables.values())
                )
            )
        changed = {oid for oid, t in tables.items() if _changed(conn, t, copies.get(t, (0, [], 0))[2], horizon)}
        rewritten = _with_children(changed, parents)
        if rewritten:
            cur.execute(
                sql.SQL("truncate table only {}").format(
                    sql.SQL(", ").join(sql.Identifier(*tables[oid]) for oid in rewritten)
                )
            )
        among = {oid: parents[oid] & rewritten for oid in rewritten}
        for schema, table in _parents_first({oid: tables[oid] for oid in rewritten}, among):
            if (schema, table) not in copies:
                continue
            position, columns, _ = copies[(schema, table)]
            now = set(_columns(conn, schema, table))
            kept = [c for c in columns if c in now]
            names = sql.SQL(", ").join(map(sql.Identifier, kept))
            cur.execute(
                sql.SQL("insert into {} ({}) overriding system value select {} from {}").format(
                    sql.Identifier(schema, table), names, names, sql.Identifier(source, f"t{position}")
                )
            )
            restored += cur.rowcount
    return restored


def drop(conn: Connection, generation: int) -> None:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(copy_schema(generation))))
    conn.commit()


def building(conn: Connection) -> int | None:
    """The record generation a phase-1 run is writing (or left unfinished), if any."""
    building = [g.generation for g in generations.listed(conn, STORE) if g.status == "building"]
    return building[0] if building else None


def begin(conn: Connection, catalog: Catalog, note: str | None = None) -> int:
    """Before phase 1 writes: copy the published record (what a no-go or a rollback restores) and
    open the generation the phase writes in place."""
    unfinished = building(conn)
    if unfinished is not None:
        raise GenerationRefused(
            f"generation {unfinished} of the record is still being written by an earlier phase-1 run that did not"
            " reach its gate: `hubs migrate rollback 1` restores the record as it was before it"
        )
    published = generations.published(conn, STORE)
    snapshot(conn, catalog, published)
    return generations.begin(conn, STORE, seeded_from=published, note=note)


def fail(conn: Connection, generation: int, reason: str) -> int:
    """A no-go (or an unfinished run): the record returns to the published generation's copy, in
    the transaction that marks the generation failed; the rows restored."""
    restored: list[int] = []

    def back(conn: Connection, published: int, _same: int) -> None:
        restored.append(restore(conn, published))

    generations.fail(conn, STORE, generation, reason, switch=back)
    return restored[0]


def rollback(conn: Connection) -> int:
    """Undo the last phase-1 run: an unfinished one's writes, else the published generation (the
    one published before it is restored from its copy and published again); the generation
    now published."""
    unfinished = building(conn)
    if unfinished is not None:
        fail(conn, unfinished, "rolled back before its gate")
        return generations.published(conn, STORE)

    def back(conn: Connection, _current: int, target: int) -> None:
        restore(conn, target)

    return generations.rollback(conn, STORE, switch=back)


def high_water(conn: Connection) -> int:
    """The highest landing sequence number the record holds (0 when it holds nothing)."""
    with conn.cursor() as cur:
        cur.execute(
            "select n.nspname, c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace"
            " join pg_attribute as a on a.attrelid = c.oid and a.attname = '_landing_seq'"
            " where n.nspname = 'landing' and c.relkind in ('r', 'p')"
        )
        tables = cur.fetchall()
        if not tables:
            return 0
        cur.execute(
            sql.SQL("select coalesce(max(m), 0) from ({}) as t(m)").format(
                sql.SQL(" union all ").join(
                    sql.SQL("select max(_landing_seq) from {}").format(sql.Identifier(*t)) for t in tables
                )
            )
        )
        return int(cur.fetchone()[0])


def ahead(conn: Connection, kind: str, generation: int) -> bool:
    """Whether the derived store's generation applied changes the record no longer holds (its
    watermark passed the record's high water: it read what a rollback took back)."""
    mark = high_water(conn)
    return any(
        family(name).split(":")[0] == kind
        and name == sync_name(family(name), generation)
        and max(seen.landing_seq, seen.deletion_seq) > mark
        for (name, _entity), (seen, _at) in state.read_all(conn).items()
    )
