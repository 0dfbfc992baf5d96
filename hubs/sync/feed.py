"""The change feed: what changed in a hub table since a store's watermark.

A hub row carries the landing sequence of the version it holds, and so does each version in a
`<table>_history` table; a key has changed when either moved past the watermark (a late,
older version changes only the history). Changes come in chunks of keys in sequence order, so
a store can advance its watermark chunk by chunk. Deletes come from hubs_meta.hub_deletions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from hubs.catalog import Entity
from hubs.sync.records import key_from_json, key_of

CHUNK = 5000


@dataclass
class Change:
    key: str
    row: dict[str, Any]
    versions: list[dict[str, Any]] = field(default_factory=list)


def as_dicts(cur: Any, rows: list[tuple]) -> list[dict[str, Any]]:
    """Rows as dicts by column name: built from the tuples, several times faster than a
    RealDictCursor (measured: 34k rows 0.30 s against 0.79 s)."""
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


def hub_table(entity: Entity) -> sql.Composed:
    return sql.Identifier(entity.schema, entity.table)


def history_table(entity: Entity) -> sql.Composed | None:
    return sql.Identifier(entity.schema, f"{entity.table}_history") if entity.history == "scd2" else None


def _key_columns(entity: Entity) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, entity.primary_key))


def _key_join(entity: Entity, alias: str) -> tuple[sql.Composable, sql.Composable]:
    """`unnest(%s::type[], ...) as k(...)` and the join condition to `alias`, typed so that
    the primary key index serves the lookup."""
    arrays = sql.SQL(", ").join(
        sql.SQL("%s::{}[]").format(sql.SQL(entity.column(c).data_type)) for c in entity.primary_key
    )
    unnest = sql.SQL("unnest({}) as k ({})").format(arrays, _key_columns(entity))
    on = sql.SQL(" and ").join(
        sql.SQL("{}.{} = k.{}").format(sql.Identifier(alias), sql.Identifier(c), sql.Identifier(c))
        for c in entity.primary_key
    )
    return unnest, on


def _window_end(conn: Connection, entity: Entity, after: int, size: int) -> int | None:
    """The landing sequence that closes the next window past `after`: the `size`-th row landed
    after it in the hub or history table (or the last one), each read from its sequence index;
    None when nothing landed past it."""
    history = history_table(entity)
    assert history is not None
    query = sql.SQL(
        "select max(s) from (select s from ("
        "(select _landing_seq as s from {h} where _landing_seq > %s order by 1 limit %s)"
        " union all (select _landing_seq from {x} where _landing_seq > %s order by 1 limit %s)"
        ") as u order by s limit %s) as w"
    ).format(h=hub_table(entity), x=history)
    with conn.cursor() as cur:
        cur.execute(query, (after, size, after, size, size))
        [end] = cur.fetchone()
    return end


def changed_keys(conn: Connection, entity: Entity, after: int, upto: int) -> list[tuple[tuple, int]]:
    """Keys whose current row or a version landed in (after, upto] and none later, oldest first
    (a key changed again later is left to the window of its last change, so each key comes
    once per sync, as a store writing it afresh expects)."""
    history = history_table(entity)
    assert history is not None
    keys = _key_columns(entity)
    later = sql.SQL(" and ").join(
        sql.SQL("not exists (select 1 from {t} as l where {match} and l._landing_seq > %s)").format(
            t=table,
            match=sql.SQL(" and ").join(
                sql.SQL("l.{c} = c.{c}").format(c=sql.Identifier(c)) for c in entity.primary_key
            ),
        )
        for table in (hub_table(entity), history)
    )
    query = sql.SQL(
        "select {k}, max(_landing_seq) from ("
        "select {k}, _landing_seq from {h} where _landing_seq > %s and _landing_seq <= %s"
        " union all select {k}, _landing_seq from {x} where _landing_seq > %s and _landing_seq <= %s"
        ") as c where {later} group by {k} order by max(_landing_seq)"
    ).format(k=keys, h=hub_table(entity), x=history, later=later)
    with conn.cursor() as cur:
        cur.execute(query, (after, upto, after, upto, upto, upto))
        return [(tuple(r[:-1]), r[-1]) for r in cur.fetchall()]


def _fetch(
    conn: Connection,
    table: sql.Composed,
    entity: Entity,
    keys: list[tuple],
    extra: dict[str, str],
    order: sql.Composable | None = None,
) -> list[dict[str, Any]]:
    unnest, on = _key_join(entity, "t")
    columns = sql.SQL(", ").join(
        [sql.SQL("t.*")]
        + [
            sql.SQL("({}) as {}").format(sql.SQL(expression), sql.Identifier(name))
            for name, expression in extra.items()
        ]
    )
    query = sql.SQL("select {c} from {t} as t join {u} on {on}{order}").format(
        c=columns, t=table, u=unnest, on=on, order=sql.SQL(" order by ") + order if order else sql.SQL("")
    )
    params = [[k[i] for k in keys] for i in range(len(entity.primary_key))]
    with conn.cursor() as cur:
        cur.execute(query, params)
        return as_dicts(cur, cur.fetchall())


class UnreadableRows(RuntimeError):
    """Rows whose values PostgreSQL holds but Python cannot read (a year before 1, say)."""

    def __init__(self, entity: Entity, part: list[tuple[tuple, int]], cause: Exception) -> None:
        self.entity = entity
        self.part = part
        self.cause = cause
        super().__init__(f"{entity.qualified_name}: {type(cause).__name__}: {cause}")


def _read(conn: Connection, entity: Entity, keys: list[tuple], extra: dict[str, str], versions: bool) -> list[Change]:
    rows = {key_of(entity, r): r for r in _fetch(conn, hub_table(entity), entity, keys, extra)}
    grouped: dict[str, list[dict[str, Any]]] = {}
    history = history_table(entity) if versions else None
    if history is not None:
        for version in _fetch(conn, history, entity, keys, extra, sql.SQL("t.valid_from")):
            grouped.setdefault(key_of(entity, version), []).append(version)
    return [Change(k, row, grouped.get(k, [])) for k, row in rows.items()]


def changes(
    conn: Connection, entity: Entity, since: int, extra: dict[str, str], versions: bool, chunk: int = CHUNK
) -> Iterator[tuple[list[Change], int]]:
    """Chunks of changed keys with their current rows (and history versions when asked), each
    with the highest landing sequence it covers. Raises UnreadableRows for a chunk Python
    cannot read."""
    if history_table(entity) is None:
        yield from _changed_rows(conn, entity, since, extra, chunk)
        return
    # Window by window of landing sequences (at most `chunk` rows landed in each), so that neither
    # the changed keys nor their rows are ever all in memory, and a commit between chunks (the
    # engine's watermark) cuts nothing short.
    after = since
    while (upto := _window_end(conn, entity, after, chunk)) is not None:
        part = changed_keys(conn, entity, after, upto)
        if part:
            try:
                batch = _read(conn, entity, [k for k, _ in part], extra, versions)
            except (psycopg2.DataError, ValueError, OverflowError) as exc:
                conn.rollback()
                raise UnreadableRows(entity, part, exc) from exc
            yield batch, upto
        after = upto


def _changed_rows(
    conn: Connection, entity: Entity, since: int, extra: dict[str, str], chunk: int
) -> Iterator[tuple[list[Change], int]]:
    """An entity without a history table holds one row per key, so its changes are its rows past
    `since`, in landing order: read a chunk at a time straight from the landing-sequence index
    (each chunk starts where the last ended), instead of listing every changed key first and
    fetching the rows again by key. Only a chunk is ever in memory."""
    columns = sql.SQL(", ").join(
        [sql.SQL("t.*")] + [sql.SQL("({}) as {}").format(sql.SQL(e), sql.Identifier(n)) for n, e in extra.items()]
    )
    upto = since
    while True:
        query = sql.SQL("select {c} from {t} as t where t._landing_seq > {u} order by t._landing_seq limit {n}").format(
            c=columns, t=hub_table(entity), u=sql.Literal(int(upto)), n=sql.Literal(int(chunk))
        )
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                rows = as_dicts(cur, cur.fetchall())
        except (psycopg2.DataError, ValueError, OverflowError) as exc:
            conn.rollback()
            raise UnreadableRows(entity, _next_keys(conn, entity, upto, chunk), exc) from exc
        if not rows:
            return
        upto = rows[-1]["_landing_seq"]
        yield [Change(key_of(entity, row), row) for row in rows], upto
        if len(rows) < chunk:
            return


def _next_keys(conn: Connection, entity: Entity, after: int, chunk: int) -> list[tuple[tuple, int]]:
    """The keys (with their landing sequences) of the next chunk past `after`, read without the
    values that could not be read."""
    query = sql.SQL("select {k}, _landing_seq from {t} where _landing_seq > %s order by _landing_seq limit %s").format(
        k=_key_columns(entity), t=hub_table(entity)
    )
    with conn.cursor() as cur:
        cur.execute(query, (after, chunk))
        return [(tuple(r[:-1]), r[-1]) for r in cur.fetchall()]


def first_unreadable(
    conn: Connection, entity: Entity, part: list[tuple[tuple, int]], extra: dict[str, str], versions: bool
) -> tuple[tuple, int, Exception] | None:
    """The key (with its landing sequence and the error) of the first row of `part` that cannot
    be read, found by halving."""
    try:
        _read(conn, entity, [k for k, _ in part], extra, versions)
    except (psycopg2.DataError, ValueError, OverflowError) as exc:
        conn.rollback()
        if len(part) == 1:
            return part[0][0], part[0][1], exc
        middle = len(part) // 2
        return first_unreadable(conn, entity, part[:middle], extra, versions) or first_unreadable(
            conn, entity, part[middle:], extra, versions
        )
    return None


def origin(conn: Connection, entity: Entity, landing_seq: int | None) -> str | None:
    """Where a landed row came from, in words: 'hub3_origin.tractors.csv, row 12 (file 7)'."""
    if landing_seq is None:
        return None
    landing = sql.Identifier("landing", entity.landing_table)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "select f.file_name, f.file_id, l._row_number from {} as l"
                " join landing._files as f on f.file_id = l._file_id where l._landing_seq = %s"
            ).format(landing),
            (landing_seq,),
        )
        found = cur.fetchone()
    conn.rollback()
    if found is None:
        return None
    name, file_id, row = found
    return f"{name}, row {row} (file {file_id})"


def deletions(conn: Connection, entity: Entity, since: int) -> tuple[list[str], int]:
    """Keys deleted from the hub table since `since` (applied deletes only), and the new mark."""
    with conn.cursor() as cur:
        cur.execute(
            "select key, _landing_seq from hubs_meta.hub_deletions"
            " where entity = %s and status = 'applied' and _landing_seq > %s order by _landing_seq",
            (entity.qualified_name, since),
        )
        rows = cur.fetchall()
    return [key_from_json(entity, key) for key, _ in rows], (rows[-1][1] if rows else since)


def current_rows(
    conn: Connection, entity: Entity, extra: dict[str, str] | None = None, where: str = "true", since: int = 0
) -> Iterator[dict[str, Any]]:
    """Every current row (for rebuilds and checks), or those landed past `since`, streamed."""
    columns = sql.SQL(", ").join(
        [sql.SQL("t.*")]
        + [sql.SQL("({}) as {}").format(sql.SQL(e), sql.Identifier(n)) for n, e in (extra or {}).items()]
    )
    with conn.cursor(name=f"rows_{entity.table}") as cur:
        cur.itersize = CHUNK
        cur.execute(
            # `since` as a literal, not a parameter: the catalog's filter expressions may hold a %
            sql.SQL("select {c} from {t} as t where ({w}) and t._landing_seq > {s}").format(
                c=columns, t=hub_table(entity), w=sql.SQL(where), s=sql.Literal(int(since))
            )
        )
        names: list[str] = []
        for row in cur:
            names = names or [d.name for d in cur.description]  # a server-side cursor's, after its first fetch
            yield dict(zip(names, row, strict=True))
