"""Bi-temporal questions to PostgreSQL: a record as it was valid at one time and known at another
(`as_of`), and what was added, changed and deleted between two transaction times (`changes`).

Valid time is the entity's own (`valid_from`/`valid_to` of a version or an interval). Transaction
time is the landing: a belief is held from the landed row that brought it (`known_from_seq`, its
sequence, and `known_from`, the time its file landed) until the landed row that replaced,
corrected or deleted it (`known_to_seq`/`known_to`). What is believed now is in the hub table (an
SCD-2 entity's versions in `<table>_history`); what was believed before sits in
hubs_meta.superseded, written by the dbt macros in the transaction that replaced it.

A transaction time is given either as a landing sequence (int) or as a landing time (datetime;
one without a zone is UTC, as in landed files). Identifiers come from the catalog, values are
parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extras import RealDictCursor

from hubs.catalog import SYSTEM_COLUMNS, Entity

Bound = int | datetime
KNOWN = ("_known_from_seq", "_known_from", "_known_to_seq", "_known_to")


@dataclass(frozen=True)
class Belief:
    """One row as it was believed, with the transaction-time bounds it was believed within
    (known_to None: still believed)."""

    row: dict[str, Any]
    known_from_seq: int | None
    known_from: datetime | None
    known_to_seq: int | None
    known_to: datetime | None

    def began(self, timed: bool) -> Bound | None:
        return self.known_from if timed else self.known_from_seq

    def ended(self, timed: bool) -> Bound | None:
        return self.known_to if timed else self.known_to_seq


@dataclass(frozen=True)
class AsOfAnswer:
    """The rows valid at `valid_at` (None for an entity without valid time) as believed at
    `known_at` (None: as believed now), each with its exact bounds on both axes."""

    entity: str
    match: dict[str, Any]
    valid_at: datetime | None
    known_at: Bound | None
    relation: str
    rows: list[Belief]


@dataclass(frozen=True)
class ChangeRecord:
    """A key added, changed or deleted between two transaction times. `before`/`after` hold
    the changed data columns (every data column for an added or deleted row); `seq`/`at` are the
    last landed row within the range that changed what was believed about the key."""

    entity: str
    key: dict[str, Any]
    kind: Literal["added", "changed", "deleted"]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    seq: int | None
    at: datetime | None


def data_columns(entity: Entity) -> list[str]:
    """The columns a change is about: not the platform's own (timestamps, landing sequence, hash)."""
    return [c.name for c in entity.columns if c.name not in SYSTEM_COLUMNS and not c.name.startswith("_")]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _bound(value: Bound | None, name: str) -> Bound | None:
    if value is None or isinstance(value, datetime):
        return _utc(value) if value is not None else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"{name} must be a landing sequence (int >= 0) or a landing time (datetime), not {value!r}")


@dataclass(frozen=True)
class _Match:
    """The columns asked as conditions over a row (alias t) and, when they hold the whole
    primary key, over hubs_meta.superseded's indexed key (alias s; `true` otherwise)."""

    rows: sql.Composable
    superseded_key: sql.Composable


def _match(entity: Entity, match: Mapping[str, Any], params: dict[str, Any]) -> _Match:
    names = {c.name for c in entity.columns}
    unknown = sorted(set(match) - names)
    if unknown:
        raise ValueError(f"{entity.qualified_name} has no column {', '.join(unknown)}")
    typed: dict[str, sql.Composable] = {}
    for i, (column, value) in enumerate(match.items()):
        params[f"m{i}"] = value
        typed[column] = sql.SQL("%({})s::{}").format(sql.SQL(f"m{i}"), sql.SQL(entity.column(column).data_type))
    rows = sql.SQL(" and ").join(
        [sql.SQL("true")] + [sql.SQL("t.{} = {}").format(sql.Identifier(c), v) for c, v in typed.items()]
    )
    # the macros wrote the key as jsonb_build_object of the typed columns; a timestamp's text
    # depends on the session's time zone, so such keys are matched by the rows alone
    probe = set(entity.primary_key) <= set(typed) and not any(
        entity.column(c).data_type.lower().startswith("timestamp") for c in entity.primary_key
    )
    if not probe:
        return _Match(rows, sql.SQL("true"))
    pairs = sql.SQL(", ").join(sql.SQL("{}, {}").format(sql.Literal(c), typed[c]) for c in entity.primary_key)
    return _Match(rows, sql.SQL("s.key = jsonb_build_object({})").format(pairs))


def _relation(entity: Entity, history: bool) -> sql.Identifier:
    return sql.Identifier(entity.schema, entity.table + ("_history" if history else ""))


def _known_since(entity: Entity, history: bool) -> tuple[sql.Composable, sql.Composable]:
    """Since when a current row has been believed (sequence, time): a history row records it; a
    hub row since its landed row, whose file's landing time the landing table leads to."""
    if history:
        return sql.SQL("t.known_from_seq"), sql.SQL("t.known_from")
    landed = sql.SQL(
        "(select f.loaded_at from {} as l join landing._files as f on f.file_id = l._file_id"
        " where l._landing_seq = t._landing_seq)"
    ).format(sql.Identifier("landing", entity.landing_table))
    return sql.SQL("t._landing_seq"), landed


def beliefs_sql(
    entity: Entity, history: bool, where: sql.Composable, current_only: bool = False, key: sql.Composable | None = None
) -> sql.Composed:
    """`select * from (...) as b`: every row believed at some time that passes `where` (over
    alias t): the relation's own rows and, unless current_only, the superseded ones (narrowed
    first by `key` over alias s, when given); each with the relation's columns and the
    transaction-time bounds named in KNOWN."""
    table = _relation(entity, history)
    seq, at = _known_since(entity, history)
    selected = sql.SQL(
        "select t.*, {seq} as _known_from_seq, {at} as _known_from, null::bigint as _known_to_seq,"
        " null::timestamptz as _known_to from {table} as t where {where}"
    ).format(seq=seq, at=at, table=table, where=where)
    if not current_only:
        selected = selected + sql.SQL(
            " union all select t.*, s.known_from_seq, s.known_from, s.known_to_seq, s.known_to"
            " from hubs_meta.superseded as s cross join lateral jsonb_populate_record(null::{table}, s.row) as t"
            " where s.entity = {entity} and s.history = {history} and {key} and {where}"
        ).format(
            table=table,
            entity=sql.Literal(entity.qualified_name),
            history=sql.Literal(history),
            key=key or sql.SQL("true"),
            where=where,
        )
    return sql.SQL("select * from ({}) as b").format(selected)


def _fetch(conn: Connection, query: sql.Composable, params: dict[str, Any]) -> list[Belief]:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(query, params)
        rows = [dict(r) for r in cur.fetchall()]
    conn.rollback()
    return [Belief(r, *(r.pop(name) for name in KNOWN)) for r in rows]


def _believed_at(known_at: Bound, params: dict[str, Any], name: str = "known_at") -> sql.Composable:
    """A belief held at `known_at`: began at or before it, ended after it (or never)."""
    params[name] = known_at
    column = "_known_from" if isinstance(known_at, datetime) else "_known_from_seq"
    start = "'-infinity'" if isinstance(known_at, datetime) else "0"
    end = "_known_to" if isinstance(known_at, datetime) else "_known_to_seq"
    return sql.SQL("coalesce(b.{c}, {s}) <= %({n})s and (b.{e} is null or b.{e} > %({n})s)").format(
        c=sql.Identifier(column), s=sql.SQL(start), e=sql.Identifier(end), n=sql.SQL(name)
    )


def as_of(
    conn: Connection,
    entity: Entity,
    key: Mapping[str, Any],
    valid_at: datetime | None = None,
    known_at: Bound | None = None,
) -> AsOfAnswer:
    """The row(s) matching `key` (the primary key, or any of the entity's columns: a unit's
    driver assignments) valid at `valid_at` (default now; ignored for an entity without valid
    time) as believed at `known_at` (default: as believed now), ordered by valid_from."""
    known = _bound(known_at, "known_at")
    params: dict[str, Any] = {}
    match = _match(entity, key, params)
    where = match.rows
    valid = None
    if entity.temporal:
        valid = _utc(valid_at) if valid_at is not None else datetime.now(UTC)
        params["valid_at"] = valid
        where = where + sql.SQL(
            " and t.valid_from <= %(valid_at)s and (t.valid_to is null or t.valid_to > %(valid_at)s)"
        )
    history = entity.history == "scd2"
    query = beliefs_sql(entity, history, where, current_only=known is None, key=match.superseded_key)
    if known is not None:
        query = query + sql.SQL(" where ") + _believed_at(known, params)
    rows = _fetch(conn, query, params)
    if entity.temporal:
        rows.sort(key=lambda b: b.row["valid_from"])
    relation = entity.qualified_name + ("_history" if history else "")
    return AsOfAnswer(entity.qualified_name, dict(key), valid, known, relation, rows)


def _in_range(since: Bound, until: Bound | None, params: dict[str, Any]) -> sql.Composable:
    """A belief that began or ended within (since, until]."""
    params["since"], params["until"] = since, until
    timed = isinstance(since, datetime)
    parts = []
    for edge in ("_known_from", "_known_to"):
        column = sql.Identifier(edge if timed else edge + "_seq")
        parts.append(sql.SQL("(b.{c} > %(since)s and (%(until)s is null or b.{c} <= %(until)s))").format(c=column))
    return sql.SQL(" or ").join(parts)


def _holds(belief: Belief, at: Bound | None) -> bool:
    """Whether the belief was held at `at` (None: is held now)."""
    timed = isinstance(at, datetime)
    start, end = belief.began(timed), belief.ended(timed)
    if at is None:
        return end is None
    return (start is None or start <= at) and (end is None or end > at)


def _held(beliefs: list[Belief], at: Bound | None) -> Belief | None:
    """The belief held at `at` (None: now); the latest-begun should two claim it."""
    return max((b for b in beliefs if _holds(b, at)), key=lambda b: b.known_from_seq or 0, default=None)


def _within(value: Bound | None, since: Bound, until: Bound | None) -> bool:
    return value is not None and value > since and (until is None or value <= until)


def _record(
    entity: Entity, key: dict[str, Any], beliefs: list[Belief], since: Bound, until: Bound | None
) -> ChangeRecord | None:
    """What changed about one key between since and until, or None when nothing did."""
    before, after = _held(beliefs, since), _held(beliefs, until)
    columns = data_columns(entity)
    if before is None and after is None:
        return None
    if before is None:
        kind, old, new = "added", None, {c: after.row.get(c) for c in columns}
    elif after is None:
        kind, old, new = "deleted", {c: before.row.get(c) for c in columns}, None
    else:
        changed = [c for c in columns if before.row.get(c) != after.row.get(c)]
        if not changed:
            return None
        kind, old, new = "changed", {c: before.row.get(c) for c in changed}, {c: after.row.get(c) for c in changed}
    timed = isinstance(since, datetime)
    edges = [
        (b.known_from_seq, b.known_from)
        for b in beliefs
        if _within(b.known_from if timed else b.known_from_seq, since, until)
    ]
    edges += [
        (b.known_to_seq, b.known_to) for b in beliefs if _within(b.known_to if timed else b.known_to_seq, since, until)
    ]
    seq, at = max(edges, key=lambda e: e[0] or 0) if edges else (None, None)
    return ChangeRecord(entity.qualified_name, key, kind, old, new, seq, at)


def _changes_of(
    conn: Connection,
    entity: Entity,
    since: Bound,
    until: Bound | None,
    key: Mapping[str, Any] | None,
    versions: bool,
) -> list[ChangeRecord]:
    params: dict[str, Any] = {}
    match = _match(entity, key or {}, params)
    # a version is one row of <table>_history: the entity's key and its valid_from
    identity = list(entity.primary_key) + (["valid_from"] if versions else [])
    columns = sql.SQL(", ").join(map(sql.Identifier, identity))
    query = sql.SQL(
        "with b as ({beliefs}), touched as (select distinct {columns} from b where {in_range})"
        " select b.* from b join touched using ({columns})"
    ).format(
        beliefs=beliefs_sql(entity, versions, match.rows, key=match.superseded_key),
        columns=columns,
        in_range=_in_range(since, until, params),
    )
    grouped: dict[tuple, list[Belief]] = {}
    for belief in _fetch(conn, query, params):
        grouped.setdefault(tuple(belief.row[c] for c in identity), []).append(belief)
    found = []
    for values, beliefs in grouped.items():
        record = _record(entity, dict(zip(identity, values, strict=True)), beliefs, since, until)
        if record is not None:
            found.append(record)
    return found


def changes(
    conn: Connection,
    entities: Entity | Sequence[Entity],
    since: Bound,
    until: Bound | None = None,
    key: Mapping[str, Any] | None = None,
    limit: int = 1000,
    versions: bool = False,
) -> list[ChangeRecord]:
    """What was added, changed (before/after of the changed columns) and deleted between the
    transaction times `since` (exclusive) and `until` (inclusive; None: now), for one entity or
    several (a hub's), optionally for one key (or rows matching some columns). For an SCD-2
    entity the current record counts (a late version that leaves it alone is no change), or with
    `versions` every version of <table>_history (keyed by key and valid_from: a late version is
    an added version and a changed valid_to). Ordered by the landed row that made the change; at
    most `limit` records (more raise ValueError)."""
    start, end = _bound(since, "since"), _bound(until, "until")
    if start is None:
        raise ValueError("since is required")
    if end is not None and isinstance(start, datetime) != isinstance(end, datetime):
        raise ValueError("since and until must both be landing sequences or both landing times")
    found: list[ChangeRecord] = []
    for entity in [entities] if isinstance(entities, Entity) else entities:
        found += _changes_of(conn, entity, start, end, key, versions and entity.history == "scd2")
        if len(found) > limit:
            raise ValueError(f"more than {limit} changes between {since} and {until}: narrow the range or the key")
    return sorted(found, key=lambda r: (r.seq or 0, r.entity, str(sorted(r.key.items()))))
