"""The relationship directory and the cross-hub navigation of the cross-reference: every
relationship of the typed catalog, as the graph draws it, with the columns it is read from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hubs.catalog import Catalog, Entity, ForeignKey
from hubs.catalog_meta import Navigation
from hubs.catalog_meta import Relationship as CatalogRelationship
from hubs.docs.markdown import code, table

RELATIONSHIP_KINDS = ("fk", "edge", "link", "polymorphic", "array", "json")
ANY_ENTITY = "any entity"


@dataclass(frozen=True)
class Relationship:
    """One entry of an entity's meta.hubs.relationships, resolved to graph labels."""

    type: str
    source: str
    targets: tuple[str, ...]
    via: str
    cardinality: str
    kind: str
    defined_on: str
    #: the design's own pattern for this relationship (meta `design`), when the design names it
    design: str = ""

    def sort_key(self) -> tuple[str, ...]:
        return (self.type, self.source, *self.targets, self.defined_on, self.via)


def _label(catalog: Catalog, model: str) -> str:
    return catalog.by_model(model).label


def _properties(names: Sequence[str]) -> str:
    return f" {{{', '.join(names)}}}" if names else ""


def _mapping(catalog: Catalog, targets: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{value}: {_label(catalog, model)}" for value, model in targets)


# How the directory names each catalog form: typed keys and subjects both find their end by a value.
_KIND_OF_FORM = {
    "fk": "fk",
    "edge": "edge",
    "link": "link",
    "typed_key": "polymorphic",
    "subject": "polymorphic",
    "array": "array",
    "json": "json",
}


def directory_entry(catalog: Catalog, rel: CatalogRelationship) -> Relationship:
    """One relationship of the catalog as the directory shows it (type, from, to, via, kind)."""
    return Relationship(
        type=rel.type,
        source=rel.start_label,
        targets=rel.end_labels or (ANY_ENTITY,),
        via=_via(catalog, rel),
        cardinality=rel.cardinality,
        kind=_KIND_OF_FORM[rel.form],
        defined_on=catalog.by_model(rel.owner).qualified_name,
        design=rel.design,
    )


def _via(catalog: Catalog, rel: CatalogRelationship) -> str:
    """The columns (or values) the relationship is read from."""
    if rel.form == "fk":
        return code(rel.foreign_key)
    if rel.form in ("edge", "link"):
        return f"{code(rel.start_columns)} -> {code(rel.end_columns)}{_properties(rel.properties)}"
    if rel.form == "typed_key":
        type_column, key_column = rel.key_columns
        from_target = rel.start_columns != catalog.by_model(rel.owner).primary_key  # drawn from link_from
        start = f"{code(rel.start_columns)} -> " if from_target else ""
        return f"{start}`{type_column}` ({_mapping(catalog, rel.targets)}), key `{key_column}`"
    if rel.form == "subject":
        return f"`{rel.column}` as `<entity>:<key>`"
    if rel.form == "array":
        return f"`{rel.column}[]`{_properties(rel.properties)}"
    column = f"`{rel.column}`"
    if rel.targets:
        via = f"{column} JSON ({_mapping(catalog, rel.targets)})"
    elif rel.end_model:
        path = f" -> `{rel.path}`" if rel.path else ""
        match = f" matched on `{rel.target_column}`" if rel.target_column else ""
        via = f"{column}{path} JSON{match}"
    else:  # no declared target: the JSON names the row itself (e.g. [{hub, table, key}])
        via = f"{column} JSON"
    return via + _properties(rel.properties)


def relationships(catalog: Catalog) -> list[Relationship]:
    found = [directory_entry(catalog, rel) for entity in catalog.entities for rel in entity.relationships]
    return sorted(found, key=Relationship.sort_key)


def directory_section(rels: list[Relationship]) -> str:
    rows = [
        (
            f"`{r.type}`",
            r.source,
            ", ".join(r.targets),
            r.via,
            r.cardinality,
            r.kind,
            f"`{r.defined_on}`",
            f"`{r.design}`" if r.design else "",
        )
        for r in rels
    ]
    intro = (
        "Kinds: **fk** an edge per foreign key (direction `in` draws it from the parent); **edge** a row "
        "projected as an edge between its two foreign-key targets, with properties in braces; **link** an "
        "edge a row draws between two of its foreign-key targets while staying a node itself; "
        "**polymorphic** the target is named by a type column or an `<entity>:<key>` subject (from a foreign "
        "key's target when the Via starts with its columns); **array** "
        "one edge per element of an array column; **json** targets referenced inside a JSON column."
    )
    named = sorted({r.type for r in rels if r.design})
    design = (
        f"**In the design**: the pattern the design documents give for the relationship (meta `design`); "
        f"the graph answers to these {len(named)} names as From and To say, whatever the design's "
        "shorthand for the ends (`fuel_txn`, `2290`, `G`). A row without it is the platform's own."
    )
    header = ("Type", "From", "To", "Via", "Cardinality", "Kind", "Defined on", "In the design")
    return "## Relationship Directory\n\n" + intro + "\n\n" + design + "\n\n" + table(header, rows)


def _fk_relationship(entity: Entity, fk: ForeignKey) -> CatalogRelationship | None:
    return next((rel for rel in entity.relationships if rel.foreign_key == fk.columns), None)


def _cypher(source: str, rel_type: str, target: str | None) -> str:
    # Several or unknown targets match any node: label alternatives are not portable to FalkorDB.
    b = f"b:{target}" if target else "b"
    return f"`MATCH (a:{source})-[:{rel_type}]->({b}) RETURN a, b LIMIT 25`"


def _fk_row(catalog: Catalog, entity: Entity, fk: ForeignKey) -> tuple[tuple[str, str], tuple[str, ...]]:
    """(start hub, end hub) and the row of one foreign key into another hub. From and To are the
    start and end of its graph edge, as in the Cypher pattern; the columns read in that order too
    (the arrow points at the foreign key's parent). Without an edge: from the child to the parent."""
    parent = catalog.by_model(fk.parent_model)
    rel = _fk_relationship(entity, fk)
    start, end = entity, parent
    columns = f"{code(fk.columns)} -> {code(fk.parent_columns)}"
    if rel is None:
        pattern = "no graph edge"
    else:
        if rel.direction == "in":
            start, end = parent, entity
            columns = f"{code(fk.parent_columns)} <- {code(fk.columns)}"
        pattern = _cypher(start.label, rel.type, end.label)
    row = (
        f"{start.label} (`{start.qualified_name}`)",
        f"{end.label} (`{end.qualified_name}`)",
        columns,
        pattern,
    )
    return (start.schema, end.schema), row


def navigation_section(catalog: Catalog, rels: list[Relationship]) -> str:
    parts = [
        "## Cross-Hub Navigation",
        "Every foreign key whose parent lives in another hub, grouped by (from hub -> to hub), with the "
        "graph pattern that follows it. From and To are where the graph edge starts and ends, as in its "
        "pattern (a relationship declared `direction: in` starts at the foreign key's parent; its columns "
        "then read `parent <- child`).",
    ]
    pairs: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for entity in catalog.entities:
        for fk in sorted(entity.foreign_keys, key=lambda f: f.columns):
            parent = catalog.by_model(fk.parent_model)
            if parent.schema != entity.schema:
                hubs, row = _fk_row(catalog, entity, fk)
                pairs.setdefault(hubs, []).append(row)
    for (source, target), rows in sorted(pairs.items()):
        parts.append(f"### {source} -> {target}")
        parts.append(table(("From", "To", "Columns", "Cypher"), sorted(rows)))
    parts.append(_other_cross_hub(catalog, rels))
    return "\n\n".join(parts)


def _other_cross_hub(catalog: Catalog, rels: list[Relationship]) -> str:
    """Graph edges that reach another hub other than as one foreign key: projections,
    polymorphic, array and JSON references."""
    hub_of = {e.label: e.schema for e in catalog.entities}
    rows = []
    for r in rels:
        if r.kind == "fk":
            continue
        home = catalog.by_file_stem(r.defined_on)
        hubs = {hub_of.get(label) for label in (r.source, *r.targets)}
        if hubs != {home.schema if home else None}:
            target = r.targets[0] if len(r.targets) == 1 and r.targets[0] != ANY_ENTITY else None
            pattern = _cypher(r.source, r.type, target)
            rows.append((f"`{r.type}`", r.source, ", ".join(r.targets), r.kind, r.via, pattern))
    header = ("Type", "From", "To", "Kind", "Via", "Cypher")
    return "### Other cross-hub edges\n\n" + table(header, rows)


def _walk(catalog: Catalog, nav: Navigation) -> str:
    """Each route as the graph draws it: (Load)-[:COVERED_BY]->(Carrier)..."""
    routes = []
    for route in nav.routes:
        text = f"({nav.start_label})"
        for leg in route:
            arrow = f"-[:{leg.relationship.type}]->" if leg.outgoing else f"<-[:{leg.relationship.type}]-"
            text += f"{arrow}({leg.far_label})"
        routes.append(f"`{text}`")
    return "<br>".join(routes)


def named_navigations_section(catalog: Catalog) -> str:
    """The navigations Recall answers by name (meta.hubs.navigations), compiled to Cypher and SQL."""
    rows = [
        (
            f"`{nav.name}`",
            code(catalog.by_model(nav.start_model).primary_key),
            _walk(catalog, nav),
            nav.time_rule(lambda model: catalog.by_model(model).table),
            nav.description,
        )
        for nav in sorted(catalog.navigations.values(), key=lambda n: n.name)
    ]
    intro = (
        "Named paths across the hubs that Recall answers from the graph or from PostgreSQL "
        "(`GET /navigate/{name}/{key}`, `Memory.navigate`, the MCP tool `navigate`), declared under "
        "`meta.hubs.navigations` of the model they start from. Intervals are edges with `valid_from` and rows "
        "of interval entities: `valid_from <= t and (valid_to is null or valid_to > t)`."
    )
    header = ("Navigation", "Key", "Path", "Time", "What it answers")
    return "## Named Navigations\n\n" + intro + "\n\n" + table(header, rows)
