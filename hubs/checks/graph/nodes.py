"""Nodes: counts (G1), duplicates and keyless nodes (G4), property parity (G5), deletes
propagated (G9) and the content-hash parity of every row (X1)."""

from typing import Any

from psycopg2 import sql
from psycopg2.extras import RealDictCursor

from hubs.catalog import Entity
from hubs.checks.base import CheckContext, CheckOutcome, check
from hubs.checks.graph.expected_edges import (
    edge_problems,
    expected_edges,
    graph_edges,
)
from hubs.checks.graph.reading import (
    BATCH,
    SAMPLE,
    differing_properties,
    key_difference,
    label_of,
    node_count,
    nodes_by_key,
    pg_count,
    quoted,
)
from hubs.checks.scope import audited_since, record_audited
from hubs.sync.feed import current_rows, hub_table
from hubs.sync.graph.dialect import GraphDialect
from hubs.sync.graph.edges import Relationships
from hubs.sync.records import chunks, content_hash, key_from_json, key_of, properties


@check("graph", "G1_node_counts")
def node_counts(ctx: CheckContext) -> CheckOutcome:
    """Per label, the graph holds exactly as many nodes as PostgreSQL has current rows."""
    problems, nodes, rows = [], 0, 0
    for entity in ctx.catalog.entities:
        label = label_of(entity)
        expected, actual = pg_count(ctx, entity), node_count(ctx.graph, label)
        rows, nodes = rows + expected, nodes + actual
        if expected != actual:
            detail = key_difference(ctx, entity, expected, actual)
            problems.append(f"{label}: {actual} node(s) in the graph, {expected} row(s) in PostgreSQL{detail}")
    summary = f"{len(ctx.catalog.entities)} labels, {nodes} nodes for {rows} rows"
    unasked = [] if rows else ["PostgreSQL has no rows in any entity: no node to count"]
    return CheckOutcome.from_problems(
        "G1_node_counts",
        problems,
        summary,
        unasked,
        labels=len(ctx.catalog.entities),
        nodes=nodes,
        rows=rows,
        asked=rows,
    )


# -- G4 -------------------------------------------------------------------------------------------


@check("graph", "G4_no_duplicate_or_keyless_nodes")
def duplicate_or_keyless_nodes(ctx: CheckContext) -> CheckOutcome:
    """No two nodes of a label share a key, every node has a key, none is without a label."""
    problems, duplicated, keyless, scanned = [], 0, 0, 0
    for entity in ctx.catalog.entities:
        label = label_of(entity)
        scanned += node_count(ctx.graph, label)
        [[missing]] = ctx.graph.run(f"MATCH (n:`{label}`) WHERE n.key IS NULL RETURN count(n)")
        if missing:
            keyless += int(missing)
            problems.append(f"{label}: {missing} node(s) without a key")
        doubles = ctx.graph.run(
            f"MATCH (n:`{label}`) WHERE n.key IS NOT NULL WITH n.key AS k, count(*) AS c WHERE c > 1"
            " RETURN k, c ORDER BY c DESC LIMIT 100"
        )
        if doubles:
            duplicated += len(doubles)
            problems.append(f"{label}: key(s) on more than one node: {quoted(f'{k} (x{c})' for k, c in doubles)}")
    [[unlabelled]] = ctx.graph.run("MATCH (n) WHERE size(labels(n)) = 0 RETURN count(n)")
    if unlabelled:
        problems.append(f"{unlabelled} node(s) without a label")
    unasked = [] if scanned else ["the graph has no node of any catalog label: no key to compare"]
    return CheckOutcome.from_problems(
        "G4_no_duplicate_or_keyless_nodes",
        problems,
        f"{len(ctx.catalog.entities)} labels, {scanned} nodes scanned",
        unasked,
        asked=scanned,
        nodes=scanned,
        duplicated_keys=duplicated,
        keyless=keyless,
        unlabelled=int(unlabelled),
    )


# -- G5 -------------------------------------------------------------------------------------------


def _sample(ctx: CheckContext, entity: Entity, size: int) -> list[dict[str, Any]]:
    """Up to `size` random current rows; large tables are thinned by a Bernoulli sample first
    so that the random order sorts a few thousand rows, not all of them."""
    [[estimate]] = ctx.sql("select reltuples from pg_class where oid = to_regclass(%s)", (entity.qualified_name,))
    thin = sql.SQL("")
    if estimate and estimate > 20 * size:
        thin = sql.SQL(" tablesample bernoulli ({})").format(sql.Literal(min(100.0, 400.0 * size / estimate)))
    query = sql.SQL("select * from {}{} order by random() limit {}").format(hub_table(entity), thin, sql.Literal(size))
    with ctx.conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(query)
        rows = [dict(r) for r in cur.fetchall()]
    ctx.conn.rollback()
    return rows


@check("graph", "G5_property_parity")
def property_parity(ctx: CheckContext) -> CheckOutcome:
    """A random sample of each label's nodes carries exactly the PostgreSQL row's values (row hash)."""
    problems, sampled, empty = [], 0, []
    for entity in ctx.catalog.entities:
        label = label_of(entity)
        expected = {key_of(entity, row): properties(entity, row) for row in _sample(ctx, entity, SAMPLE)}
        sampled += len(expected)
        if not expected:
            empty.append(label)
        nodes = nodes_by_key(ctx.graph, label, list(expected))
        for key, props in expected.items():
            node = nodes.get(key)
            if node is None:
                problems.append(f"{label} {key}: no node")
            elif content_hash(node) != content_hash(props):
                problems.append(
                    f"{label} {key}: properties differ from PostgreSQL ({', '.join(differing_properties(props, node))})"
                )
    # An empty entity leaves no property to compare (G1 and X1 count its stray nodes); the check
    # asked nothing only when every entity was empty.
    unasked = [] if sampled else ["PostgreSQL has no rows in any entity: no property to compare"]
    outcome = CheckOutcome.from_problems(
        "G5_property_parity",
        problems,
        f"{sampled} sampled nodes compared",
        unasked,
        sampled=sampled,
        asked=sampled,
        empty_labels=len(empty),
    )
    if empty:
        outcome.notes["empty_labels"] = ", ".join(empty)
    return outcome


# -- G9 -------------------------------------------------------------------------------------------


def _gone(ctx: CheckContext, entity: Entity) -> list[str]:
    """Keys whose delete was applied and that PostgreSQL has not received again since."""
    match = sql.SQL(" and ").join(
        sql.SQL("t.{c} = (d.key ->> {n})::{type}").format(
            c=sql.Identifier(c), n=sql.Literal(c), type=sql.SQL(entity.column(c).data_type)
        )
        for c in entity.primary_key
    )
    query = sql.SQL(
        "select distinct d.key from hubs_meta.hub_deletions as d where d.entity = %s and d.status = 'applied'"
        " and not exists (select 1 from {t} as t where {m})"
    ).format(t=hub_table(entity), m=match)
    return sorted({key_from_json(entity, key) for (key,) in ctx.sql(query, (entity.qualified_name,))})


@check("graph", "G9_deletes_propagated")
def deletes_propagated(ctx: CheckContext) -> CheckOutcome:
    """Rows deleted from PostgreSQL (applied deletes in hubs_meta.hub_deletions) have no node and
    no relationship they owned left in the graph."""
    [[logged]] = ctx.sql("select to_regclass('hubs_meta.hub_deletions') is not null")
    problems, deleted = [], 0
    relationships = Relationships(ctx.catalog)
    for entity in ctx.catalog.entities if logged else ():
        keys = _gone(ctx, entity)
        if not keys:
            continue
        deleted += len(keys)
        label = label_of(entity)
        for part in chunks(keys, BATCH):
            for (key,) in ctx.graph.run(
                f"UNWIND $keys AS k MATCH (n:`{label}` {{key: k}}) RETURN DISTINCT k", {"keys": part}
            ):
                problems.append(f"{label} {key}: deleted in PostgreSQL but still a node in the graph")
            owners = [f"{label}:{k}" for k in part]
            for rel_type in relationships.projection_types(entity):
                for owner, count in ctx.graph.run(
                    f"UNWIND $owners AS o MATCH ()-[r:`{rel_type}` {{_owner: o}}]->() RETURN o, count(r)",
                    {"owners": owners},
                ):
                    problems.append(f"{rel_type}: {count} relationship(s) of deleted {owner} still in the graph")
    why = "no delete has been applied (hubs_meta.hub_deletions)" if logged else "no delete log yet"
    unasked = [] if deleted else [f"{why}: no deleted key to look up"]
    return CheckOutcome.from_problems(
        "G9_deletes_propagated", problems, f"{deleted} deleted keys looked up", unasked, deleted=deleted, asked=deleted
    )


# -- X1 -------------------------------------------------------------------------------------------


def _hash_batch(graph: GraphDialect, label: str, hashes: dict[str, str], problems: list[str]) -> None:
    nodes = nodes_by_key(graph, label, list(hashes))
    for key, expected in hashes.items():
        node = nodes.get(key)
        if node is None:
            problems.append(f"{label} {key}: no node")
        elif content_hash(node) != expected:
            problems.append(f"{label} {key}: row hash differs from PostgreSQL")


@check("graph", "X1_postgres_graph_parity")
def postgres_graph_parity(ctx: CheckContext) -> CheckOutcome:
    """Every PostgreSQL row has its node with the same row hash, per entity, and every relationship
    type has as many relationships as PostgreSQL implies. In a refresh, only the rows changed
    since it last passed are re-hashed (node counts stay whole: hubs/checks/scope.py)."""
    name = "X1_postgres_graph_parity"
    since = audited_since(ctx, name, "graph")
    problems: list[str] = []
    rows = hashed = 0
    passed: dict[str, int] = {}
    for entity in ctx.catalog.entities:
        label, hashes, mark = label_of(entity), {}, since.get(entity.model, 0)
        found: list[str] = []
        try:
            for row in current_rows(ctx.conn, entity, since=mark):
                hashes[key_of(entity, row)] = content_hash(properties(entity, row))
                mark = max(mark, row["_landing_seq"])
                if len(hashes) >= BATCH:
                    _hash_batch(ctx.graph, label, hashes, found)
                    hashed, hashes = hashed + len(hashes), {}
        finally:
            ctx.conn.rollback()
        _hash_batch(ctx.graph, label, hashes, found)
        hashed += len(hashes)
        count, nodes = pg_count(ctx, entity), node_count(ctx.graph, label)
        rows += count
        if nodes != count:
            found.append(f"{label}: {nodes} node(s) in the graph, {count} row(s) in PostgreSQL")
        if not found:
            passed[entity.model] = mark
        problems += found
    tally = expected_edges(ctx)
    problems += edge_problems(ctx, tally, graph_edges(ctx.graph, ctx.catalog))
    record_audited(ctx, name, "graph", passed)
    scope = f"{hashed} changed rows re-hashed of " if since else ""
    relationships = sum(tally.counts.values())
    summary = f"{scope}{rows} rows of {len(ctx.catalog.entities)} entities and {relationships} relationships"
    unasked = [] if rows else ["PostgreSQL has no rows in any entity: no row hash to compare"]
    return CheckOutcome.from_problems(
        name,
        problems,
        summary,
        unasked,
        rows=rows,
        hashed=hashed,
        relationships=relationships,
        asked=rows,
    )
