"""X4: Graphiti's timeline against the versions PostgreSQL keeps.

A version is a row of `<table>_history` for an SCD-2 entity and a row of the table itself for an
interval entity; each must be one current (not expired) RELATES_TO edge of the timeline's group
with the entity's name and key, valid_at = valid_from, invalid_at = valid_to (NULL while current)
and created_at = since when it is believed (history.py's known_from). Current edges are matched
to versions by (key, valid_at); an edge matching no version, a second edge for one version and an
edge of an entity the timeline does not track are all reported. Every superseded belief
(hubs_meta.superseded) must be one expired edge with its bounds, expired_at its known_to; and no
expired edge may be anything else.

Cost: per tracked entity, two SQL queries reading its versions' and superseded beliefs' keys and
bounds and one Cypher query returning its edges' keys and bounds; one more query for edges of
untracked entities.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from psycopg2 import sql

from hubs.catalog import Entity
from hubs.checks.base import CheckContext, CheckOutcome, check
from hubs.sync.feed import history_table, hub_table
from hubs.sync.records import key_of, normalize
from hubs.sync.timeline import EARLIEST, TimelineStore
from hubs.sync.timeline_beliefs import known_since, versioned

Belief = tuple[str, str, str | None, str | None]  # key, valid_from, valid_to, known_to (ISO UTC text)

SAMPLE_STRAYS = 50


def versions(ctx: CheckContext, entity: Entity) -> dict[tuple[str, str], tuple[str | None, str]]:
    """(key, valid_from) -> (valid_to, known_from) of every version PostgreSQL has, as ISO-8601 UTC
    text (known_from: since when it is believed, EARLIEST when recorded before that was kept)."""
    table = history_table(entity) if versioned(entity) else hub_table(entity)
    columns = [*entity.primary_key, *(c for c in ("valid_from", "valid_to") if c not in entity.primary_key)]
    since = sql.SQL("t.known_from" if versioned(entity) else f"({known_since(entity)['_known_from']})")
    query = sql.SQL("select {}, {} from {} as t").format(
        sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in columns), since, table
    )
    found = {}
    for *values, known_from in ctx.sql(query.as_string(ctx.conn)):
        row = dict(zip(columns, values, strict=True))
        found[(key_of(entity, row), normalize(row["valid_from"]))] = (
            normalize(row["valid_to"]),
            normalize(known_from or EARLIEST),
        )
    return found


def superseded(ctx: CheckContext, entity: Entity) -> Counter[Belief]:
    """Every superseded belief PostgreSQL keeps of the entity's versions."""
    table = history_table(entity) if versioned(entity) else hub_table(entity)
    columns = [*entity.primary_key, *(c for c in ("valid_from", "valid_to") if c not in entity.primary_key)]
    query = sql.SQL(
        "select {}, s.known_to from hubs_meta.superseded as s"
        " cross join lateral jsonb_populate_record(null::{}, s.row) as t where s.entity = %s and s.history = %s"
    ).format(sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in columns), table)
    found: Counter[Belief] = Counter()
    for *values, known_to in ctx.sql(query.as_string(ctx.conn), (entity.qualified_name, versioned(entity))):
        row = dict(zip(columns, values, strict=True))
        found[(key_of(entity, row), normalize(row["valid_from"]), normalize(row["valid_to"]), normalize(known_to))] += 1
    return found


def _compare_expired(entity: Entity, wanted: Counter[Belief], edges: list[dict[str, Any]]) -> list[str]:
    kept = Counter((e["key"], e["valid_at"], e["invalid_at"], e["expired_at"]) for e in edges)
    problems = []
    for (key, start, end, known_to), n in sorted((wanted - kept).items(), key=str):
        problems.append(
            f"{entity.model} {key}: no expired edge for the version from {start} to {end} believed until {known_to}"
            + (f" ({n} missing)" if n > 1 else "")
        )
    for (key, start, end, expired), n in sorted((kept - wanted).items(), key=str):
        problems.append(
            f"{entity.model} {key}: {n} expired edge(s) from {start} to {end} expired {expired}"
            " match no superseded belief"
        )
    return problems


def _compare(
    entity: Entity, wanted: dict[tuple[str, str], tuple[str | None, str]], edges: list[dict[str, Any]]
) -> list[str]:
    problems = []
    seen = Counter((e["key"], e["valid_at"]) for e in edges)
    keys = {key for key, _ in wanted}
    for edge in sorted(edges, key=lambda e: (str(e["key"]), str(e["valid_at"]))):
        version = (edge["key"], edge["valid_at"])
        if version not in wanted:
            why = "a key PostgreSQL does not have" if edge["key"] not in keys else "no version of the key"
            problems.append(
                f"{entity.model} {edge['key']}: edge {edge['uuid']} valid_at {edge['valid_at']} matches {why}"
            )
        elif edge["invalid_at"] != wanted[version][0]:
            problems.append(
                f"{entity.model} {edge['key']}: version from {edge['valid_at']} ends {wanted[version][0]}"
                f" in PostgreSQL, its edge's invalid_at is {edge['invalid_at']}"
            )
        elif edge["created_at"] != wanted[version][1]:
            problems.append(
                f"{entity.model} {edge['key']}: version from {edge['valid_at']} believed since {wanted[version][1]}"
                f" in PostgreSQL, its edge's created_at is {edge['created_at']} (written before the timeline kept"
                " transaction time? `hubs rebuild timeline`)"
            )
    for (key, valid_from), n in sorted(seen.items(), key=str):
        if n > 1 and (key, valid_from) in wanted:
            problems.append(f"{entity.model} {key}: {n} edges for the version from {valid_from}")
    for key, valid_from in sorted(wanted):
        if (key, valid_from) not in seen:
            problems.append(f"{entity.model} {key}: no edge for the version from {valid_from}")
    return problems


@check("timeline", "X4_postgres_graphiti_parity")
def postgres_graphiti_parity(ctx: CheckContext) -> CheckOutcome:
    """Every version in the history tables has its current Graphiti edge with matching valid_at / invalid_at,
    every superseded belief its expired edge; no other edge."""
    store: TimelineStore = ctx.store("timeline")
    tracked = [e for e in ctx.catalog.entities if store.holds(e)]
    problems: list[str] = []
    counts: Counter[str] = Counter()
    for entity in tracked:
        wanted = versions(ctx, entity)
        held = store.edges(entity)
        edges = [e for e in held if e["expired_at"] is None]
        expired = [e for e in held if e["expired_at"] is not None]
        earlier = superseded(ctx, entity)
        counts["versions"] += len(wanted)
        counts["edges"] += len(edges)
        counts["superseded"] += sum(earlier.values())
        counts["expired_edges"] += len(expired)
        found = _compare(entity, wanted, edges) + _compare_expired(entity, earlier, expired)
        counts["entities_differing"] += bool(found)
        problems += found
    strays = store.query(
        "MATCH ()-[e:RELATES_TO]->() WHERE e.group_id = $group AND NOT coalesce(e.entity, '') IN $tracked "
        "RETURN e.entity AS entity, e.entity_key AS key, e.uuid AS uuid LIMIT $limit",
        group=store.group,
        tracked=[e.model for e in tracked],
        limit=SAMPLE_STRAYS,
    )
    counts["untracked_edges"] = len(strays)
    problems += [f"{s['entity']} {s['key']}: edge {s['uuid']} of an entity the timeline does not track" for s in strays]
    unasked = [] if counts["versions"] else ["PostgreSQL has no version of any tracked entity: no edge to compare"]
    return CheckOutcome.from_problems(
        "X4_postgres_graphiti_parity",
        problems,
        f"{counts['versions']} versions of {len(tracked)} entities, {counts['edges']} current timeline edges,"
        f" {counts['superseded']} superseded beliefs, {counts['expired_edges']} expired edges",
        unasked,
        asked=counts["versions"],
        **counts,
    )
