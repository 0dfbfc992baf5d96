"""The graph's schema: unique constraints (G3), the label and type set (G8), filter indexes (G10)."""

from hubs.checks.base import CheckContext, CheckOutcome, check
from hubs.checks.graph.expected_edges import (
    expected_edges,
)
from hubs.checks.graph.reading import (
    edge_count,
    label_of,
    node_count,
    pg_count,
)
from hubs.sync.graph.edges import VERSION, Relationships
from hubs.sync.graph.store import filtered_properties, indexed_properties

# -- G3 -------------------------------------------------------------------------------------------


@check("graph", "G3_unique_constraints")
def unique_constraints(ctx: CheckContext) -> CheckOutcome:
    """Each label has an online UNIQUE constraint on its key."""
    online: dict[str, bool] = {}
    for item in ctx.graph.schema():
        if item.kind == "unique" and item.prop == "key":
            online[item.label] = online.get(item.label, False) or item.online
    problems = []
    for entity in ctx.catalog.entities:
        label = label_of(entity)
        if label not in online:
            problems.append(f"{label}: no UNIQUE constraint on key")
        elif not online[label]:
            problems.append(f"{label}: the UNIQUE constraint on key is not online")
    labels = len(ctx.catalog.entities)
    return CheckOutcome.from_problems(
        "G3_unique_constraints",
        problems,
        f"{labels} key constraints",
        labels=labels,
        online=sum(online.get(label_of(e), False) for e in ctx.catalog.entities),
    )


# -- G8 -------------------------------------------------------------------------------------------


@check("graph", "G8_label_and_type_set")
def label_and_type_set(ctx: CheckContext) -> CheckOutcome:
    """The graph's node labels and relationship types are the catalog's: nothing extra, nothing missing."""
    graph = ctx.graph
    catalog_labels = {label_of(e) for e in ctx.catalog.entities}
    catalog_types = Relationships(ctx.catalog).types()
    # A server may list a label or type that no longer has any node or edge (FalkorDB keeps them in
    # its schema): only those in use count. Both servers count a label or type without a scan.
    labels = {r[0] for r in graph.run("CALL db.labels()")} - graph.foreign_labels
    types = {r[0] for r in graph.run("CALL db.relationshipTypes()")} - graph.foreign_types
    used_labels = {lb for lb in labels | catalog_labels if node_count(graph, lb)}
    used_types = {t for t in types | catalog_types if edge_count(graph, t)}
    wanted_labels = {label_of(e) for e in ctx.catalog.entities if pg_count(ctx, e)}
    wanted_types = expected_edges(ctx).types()
    problems = [f"label {lb} is not in the catalog" for lb in sorted(used_labels - catalog_labels)]
    problems += [f"relationship type {t} is not in the catalog" for t in sorted(used_types - catalog_types)]
    problems += [f"label {lb}: no nodes although PostgreSQL has rows" for lb in sorted(wanted_labels - used_labels)]
    problems += [
        f"relationship type {t}: no relationships although PostgreSQL implies some"
        for t in sorted(wanted_types - used_types)
    ]
    summary = f"{len(used_labels)} labels and {len(used_types)} relationship types in use"
    unasked = [] if wanted_labels else ["PostgreSQL has no rows in any entity: no label or type it implies"]
    return CheckOutcome.from_problems(
        "G8_label_and_type_set",
        problems,
        summary,
        unasked,
        labels=len(used_labels),
        types=len(used_types),
        asked=len(wanted_labels) + len(wanted_types),
    )


# -- G10 ------------------------------------------------------------------------------------------


@check("graph", "G10_filter_indexes")
def filter_indexes(ctx: CheckContext) -> CheckOutcome:
    """The properties queries filter on (statuses, dates, names, the sync's edge owners) are indexed
    where the server's index answers right, and not where it does not (FalkorDB: dates, numbers)."""
    relationships = Relationships(ctx.catalog)
    wanted: set[tuple[str, str, str]] = set()
    wrong: set[tuple[str, str, str]] = set()  # indexes that would change answers
    for entity in ctx.catalog.entities:
        indexed = indexed_properties(entity, ctx.graph)
        wanted |= {("node_index", label_of(entity), p) for p in indexed}
        wrong |= {("node_index", label_of(entity), p) for p in filtered_properties(entity) if p not in indexed}
        wanted |= {("edge_index", t, "_owner") for t in relationships.projection_types(entity)}
        if entity.history == "scd2":
            wanted.add(("edge_index", VERSION, "_owner"))
    online: dict[tuple[str, str, str], bool] = {}
    for item in ctx.graph.schema():
        if item.kind in ("node_index", "edge_index"):
            where = (item.kind, item.label, item.prop)
            online[where] = online.get(where, False) or item.online
    problems = []
    for kind, label, prop in sorted(wanted):
        what = f"{label}.{prop}" if kind == "node_index" else f"[:{label}].{prop}"
        if (kind, label, prop) not in online:
            problems.append(f"{what}: no index")
        elif not online[(kind, label, prop)]:
            problems.append(f"{what}: index not online")
    for _, label, prop in sorted(wrong & online.keys()):
        problems.append(f"{label}.{prop}: indexed, and this server answers comparisons through that index wrongly")
    return CheckOutcome.from_problems(
        "G10_filter_indexes", problems, f"{len(wanted)} indexes expected", indexes=len(wanted)
    )
