"""The 6-hub schema cross-reference: every entity, property, relationship, constraint and store.

The document is a view of the dbt manifest, written by `hubs docs` and never edited by hand; a
test regenerates it and compares it with the committed copy. Anything in the manifest that the
document cannot describe faithfully (a constraint of unknown kind, a temporal entity without
its interval columns) stops the generator instead of being left out; the catalog loader has already
refused relationships of unknown form or on columns that are no foreign key.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubs.catalog import Catalog, Column, Entity, ensure_manifest, load_catalog
from hubs.docs.markdown import code, prose, table
from hubs.docs.relationships import (
    directory_section,
    named_navigations_section,
    navigation_section,
    relationships,
)
from hubs.settings import PROJECT_ROOT

DOCUMENT = PROJECT_ROOT / "docs" / "6-HUB-SCHEMA-CROSS-REFERENCE.md"
TITLE = "6-Hub Schema Cross-Reference"
# History kinds whose rows carry a validity interval, and therefore a Graphiti timeline.
TEMPORAL_KINDS = ("scd2", "interval")
CONSTRAINT_KINDS = ("primary key", "foreign key", "unique", "not null", "check", "exclusion")
_KIND_OF_TYPE = {
    "primary_key": "primary key",
    "foreign_key": "foreign key",
    "unique": "unique",
    "not_null": "not null",
    "check": "check",
}
# The post-hook that gives each SCD-2 history table its key and its no-overlap exclusion; those
# two constraints are in no contract, so the hook is what tells us they exist.
_HISTORY_HOOK = "hubs_history_constraints"
_AS_OF = "valid_from <= :t and (valid_to is null or valid_to > :t)"


class CrossReferenceError(ValueError):
    """The manifest holds something the document cannot describe faithfully."""


@dataclass(frozen=True)
class Summary:
    hubs: int
    entities: int
    labels: int
    properties: int
    landed_properties: int
    relationship_types: int
    relationships: int
    constraints: dict[str, int]
    temporal_entities: int
    history_tables: int
    event_entities: int
    redis_key_patterns: int
    qdrant_collections: int

    def rows(self) -> list[tuple[str, int]]:
        """(measure, count) in the order the document and the command line show them."""
        rows = [
            ("Hubs (PostgreSQL schemas)", self.hubs),
            ("Entities", self.entities),
            ("Graph labels", self.labels),
            ("Properties (all columns)", self.properties),
            ("Landed properties", self.landed_properties),
            ("Relationship types", self.relationship_types),
            ("Relationships", self.relationships),
        ]
        rows += [(f"Constraints: {kind}", self.constraints[kind]) for kind in CONSTRAINT_KINDS]
        rows += [
            ("Constraints: total", sum(self.constraints.values())),
            ("Temporal entities (scd2 + interval)", self.temporal_entities),
            ("History tables (scd2)", self.history_tables),
            ("Event entities", self.event_entities),
            ("Redis key patterns", self.redis_key_patterns),
            ("Qdrant collections", self.qdrant_collections),
        ]
        return rows


# --- reading the manifest ----------------------------------------------------------------------


def load(manifest_path: Path | None = None) -> tuple[Catalog, dict[str, Any]]:
    """The catalog and the raw manifest it was read from (the catalog keeps no table-level
    checks, exclusions or history models, which the document needs)."""
    path = manifest_path or ensure_manifest()
    return load_catalog(path), json.loads(path.read_text())


def _model_nodes(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def _history_nodes(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Entity model -> the model of its SCD-2 history table."""
    found = {}
    for node in _model_nodes(manifest).values():
        history_of = node["config"].get("meta", {}).get("hubs", {}).get("history_of")
        if history_of:
            found[history_of] = node
    return found


def _qualified(node: dict[str, Any]) -> str:
    return f"{node['schema']}.{node.get('alias') or node['name']}"


def _has_history_constraints(node: dict[str, Any]) -> bool:
    return any(_HISTORY_HOOK in (hook.get("sql") or "") for hook in node["config"].get("post-hook", []))


def _all_constraints(node: dict[str, Any]) -> list[dict[str, Any]]:
    model_level = list(node.get("constraints", []))
    return model_level + [c for col in node["columns"].values() for c in col.get("constraints", [])]


def _constraint_kind(constraint: dict[str, Any]) -> str:
    kind = _KIND_OF_TYPE.get(constraint["type"])
    if kind:
        return kind
    # dbt has no exclusion constraint; the yml writes them as custom "exclude using gist (...)".
    if constraint["type"] == "custom" and (constraint.get("expression") or "").lstrip().lower().startswith("exclude"):
        return "exclusion"
    raise CrossReferenceError(f"constraint of unknown kind: {constraint}")


# --- counting ----------------------------------------------------------------------------------


def constraint_counts(catalog: Catalog, manifest: dict[str, Any]) -> dict[str, int]:
    """Constraints by kind over the entity tables and their history tables."""
    nodes = _model_nodes(manifest)
    counts = Counter({kind: 0 for kind in CONSTRAINT_KINDS})
    for entity in catalog.entities:
        counts.update(_constraint_kind(c) for c in _all_constraints(nodes[entity.model]))
    for history in _history_nodes(manifest).values():
        counts.update(_constraint_kind(c) for c in _all_constraints(history))
        if _has_history_constraints(history):
            counts.update(("primary key", "exclusion"))
    return {kind: counts[kind] for kind in CONSTRAINT_KINDS}


def summarize(catalog: Catalog, manifest: dict[str, Any]) -> Summary:
    rels = [rel for e in catalog.entities for rel in e.relationships]
    history_models = _history_nodes(manifest)
    return Summary(
        hubs=len(catalog.schemas),
        entities=len(catalog.entities),
        labels=len({e.label for e in catalog.entities}),
        properties=sum(len(e.columns) for e in catalog.entities),
        landed_properties=sum(len(e.landed_columns) for e in catalog.entities),
        relationship_types=len({rel.type for rel in rels}),
        relationships=len(rels),
        constraints=constraint_counts(catalog, manifest),
        temporal_entities=sum(e.history in TEMPORAL_KINDS for e in catalog.entities),
        history_tables=sum(e.model in history_models for e in catalog.entities),
        event_entities=sum(e.history == "event" for e in catalog.entities),
        redis_key_patterns=sum(len(e.cache) for e in catalog.entities),
        qdrant_collections=len({e.vectors.collection for e in catalog.entities if e.vectors}),
    )


# --- Markdown ----------------------------------------------------------------------------------


def _title() -> str:
    return (
        f"# {TITLE}\n\n"
        "This file is generated by `hubs docs` from the dbt manifest (the hub models' yml under "
        "`dbt_project/models/hubs/`) and must not be edited by hand: change the yml and run `hubs docs` "
        "again. `tests/test_cross_reference.py` fails whenever this file and the manifest disagree. "
        "Every entity is a PostgreSQL table (the system of record) and a graph node; the cache, vector "
        "and timeline stores are derived from it as its `meta.hubs` declares."
    )


def _summary_section(summary: Summary) -> str:
    return "## Summary\n\n" + table(("Measure", "Count"), summary.rows())


def _index_section(catalog: Catalog) -> str:
    rows = [
        (
            e.schema,
            f"`{e.name}`",
            f"`{e.qualified_name}`",
            e.label,
            code(e.primary_key),
            len(e.columns),
            e.history,
        )
        for e in catalog.entities
    ]
    header = ("Hub", "Entity", "PostgreSQL table", "Graph label", "Key", "Properties", "History")
    return "## Entity Master Index\n\n" + table(header, rows)


def _column_constraints(catalog: Catalog, entity: Entity, node: dict[str, Any], column: Column) -> str:
    parts = []
    if column.name in entity.primary_key:
        parts.append("PK")
    for fk in entity.foreign_keys:
        if column.name in fk.columns:
            parent_column = fk.parent_columns[fk.columns.index(column.name)]
            parts.append(f"FK -> {catalog.by_model(fk.parent_model).label}.{parent_column}")
    single_unique = any(
        c["type"] == "unique" and c.get("columns") == [column.name] for c in node.get("constraints", [])
    )
    if column.has_constraint("unique") or single_unique:
        parts.append("UNIQUE")
    if column.has_constraint("not_null"):
        parts.append("NOT NULL")
    parts += [f"CHECK `{c['expression']}`" for c in column.constraints if c.get("type") == "check"]
    if column.computed:
        parts.append(f"computed `{column.meta['expression']}`")
    if column.has_default:
        parts.append(f"default `{column.meta['default']}`")
    return "; ".join(parts)


def _table_constraints(
    catalog: Catalog, entity: Entity, node: dict[str, Any], history: dict[str, Any] | None
) -> list[str]:
    """Constraints over several columns, which no single row of the property table can show."""
    lines = []
    if len(entity.primary_key) > 1:
        lines.append(f"PRIMARY KEY ({', '.join(entity.primary_key)})")
    for fk in entity.foreign_keys:
        if len(fk.columns) > 1:
            parent = catalog.by_model(fk.parent_model)
            lines.append(
                f"FOREIGN KEY ({', '.join(fk.columns)}) -> `{parent.qualified_name}` "
                f"({', '.join(fk.parent_columns)}), {parent.label}"
            )
    for c in node.get("constraints", []):
        name = f" `{c['name']}`" if c.get("name") else ""
        if c["type"] == "unique" and len(c.get("columns") or []) > 1:
            lines.append(f"UNIQUE{name} ({', '.join(c['columns'])})")
        elif c["type"] == "check":
            lines.append(f"CHECK{name}: `{c['expression']}`")
        elif _constraint_kind(c) == "exclusion":
            lines.append(f"EXCLUDE{name}: `{c['expression']}`")
    if history is not None and _has_history_constraints(history):
        lines.append(
            f"History table `{_qualified(history)}`: PRIMARY KEY ({', '.join((*entity.primary_key, 'valid_from'))}) "
            "and EXCLUDE overlapping versions of one key (post-hook `hubs_history_constraints`)"
        )
    return lines


def _entity_properties(catalog: Catalog, entity: Entity, node: dict[str, Any], history: dict[str, Any] | None) -> str:
    rows = [
        (f"`{c.name}`", f"`{c.data_type}`", _column_constraints(catalog, entity, node, c), prose(c.description))
        for c in entity.columns
    ]
    parts = [
        f"#### {entity.label} (`{entity.qualified_name}`)",
        prose(entity.description),
        table(("Column", "Type", "Constraints", "Description"), rows),
    ]
    table_level = _table_constraints(catalog, entity, node, history)
    if table_level:
        parts.append("Table constraints:\n\n" + "\n".join(f"- {line}" for line in table_level))
    return "\n\n".join(p for p in parts if p)


def _property_section(catalog: Catalog, manifest: dict[str, Any]) -> str:
    nodes = _model_nodes(manifest)
    histories = _history_nodes(manifest)
    parts = [
        "## Property Catalog",
        "Constraints: PK primary key; FK -> Label.column foreign key; UNIQUE; NOT NULL; CHECK with its "
        "expression; computed (derived by the platform, never landed); default (used when a file omits it). "
        "Constraints over several columns follow each table.",
    ]
    for schema in catalog.schemas:
        entities = [e for e in catalog.entities if e.schema == schema]
        parts.append(f"### {schema} ({len(entities)} entities)")
        parts += [_entity_properties(catalog, e, nodes[e.model], histories.get(e.model)) for e in entities]
    return "\n\n".join(parts)


def _redis_keys(entity: Entity) -> str:
    keys = []
    for cache in entity.cache:
        where = f" where `{cache.where}`" if cache.where else ""
        keys.append(f"`{cache.key}` (TTL {cache.ttl_seconds} s){where}")
    return "<br>".join(keys)


def _timeline(entity: Entity) -> str:
    if entity.history not in TEMPORAL_KINDS:
        return "no"
    facts = entity.timeline_facts
    return f"yes: {', '.join(facts)}" if facts else "yes"


def _distribution_section(catalog: Catalog) -> str:
    rows = [
        (
            f"`{e.name}`",
            f"`{e.qualified_name}`",
            e.label,
            _redis_keys(e),
            f"`{e.vectors.collection}`" if e.vectors else "",
            _timeline(e),
        )
        for e in catalog.entities
    ]
    header = ("Entity", "PostgreSQL table", "Neo4j label", "Redis keys", "Qdrant collection", "Graphiti timeline")
    collections: dict[str, list[str]] = {}
    for e in catalog.entities:
        if e.vectors:
            collections.setdefault(e.vectors.collection, []).append(e.label)
    collection_lines = [f"- `{name}`: {', '.join(sorted(labels))}" for name, labels in sorted(collections.items())]
    intro = (
        "PostgreSQL is the system of record; every other store is derived from it. The graph uses the "
        "same labels in FalkorDB when Neo4j is not configured. Graphiti keeps a timeline for every "
        "entity whose history is scd2 or interval, with the facts listed."
    )
    return "\n\n".join(
        [
            "## Database Distribution Matrix",
            intro,
            table(header, rows),
            "Qdrant collections:",
            "\n".join(collection_lines),
        ]
    )


def _as_of(entity: Entity, histories: dict[str, dict[str, Any]]) -> str:
    names = {c.name for c in entity.columns}
    if not {"valid_from", "valid_to"} <= names:
        raise CrossReferenceError(f"{entity.qualified_name} is {entity.history} but has no valid_from/valid_to")
    if entity.history == "scd2":
        if entity.model not in histories:
            raise CrossReferenceError(f"{entity.qualified_name} is scd2 but has no history model")
        table = _qualified(histories[entity.model])
    else:
        table = entity.qualified_name
    return f"`select * from {table} where {_AS_OF}`"


def _no_overlap(entity: Entity, node: dict[str, Any], history: dict[str, Any] | None) -> str:
    """What keeps the versions of one key from overlapping; empty (shown '-') when nothing does."""
    if entity.history == "scd2":
        hooked = history is not None and _has_history_constraints(history)
        return f"EXCLUDE on `{_qualified(history)}` (post-hook)" if hooked else ""
    names = [
        f"`{c.get('name') or 'unnamed'}`" for c in node.get("constraints", []) if _constraint_kind(c) == "exclusion"
    ]
    return ", ".join(names)


def _temporal_section(catalog: Catalog, manifest: dict[str, Any]) -> str:
    nodes = _model_nodes(manifest)
    histories = _history_nodes(manifest)
    temporal = [e for e in catalog.entities if e.history in TEMPORAL_KINDS]
    rows = [
        (
            f"{e.label} (`{e.qualified_name}`)",
            e.history,
            code(e.primary_key),
            ", ".join(e.timeline_facts),
            _no_overlap(e, nodes[e.model], histories.get(e.model)),
            _as_of(e, histories),
        )
        for e in temporal
    ]
    events = [
        (f"{e.label} (`{e.qualified_name}`)", code(e.primary_key)) for e in catalog.entities if e.history == "event"
    ]
    intro = (
        "**scd2**: the table holds the current version of each key; every version, with `valid_from` and "
        "`valid_to` (NULL while current), is in its history table. **interval**: each row is valid from "
        "`valid_from` to `valid_to` (NULL = open). The exclusion constraints under *No overlap* forbid two "
        "rows that agree on the constraint's `=` columns (for scd2, two versions of one key) from overlapping "
        "in time, so the query shown returns what was true at time `:t`."
    )
    return "\n\n".join(
        [
            "## Temporal Tracking",
            intro,
            table(("Entity", "History", "Key", "Timeline facts", "No overlap", "As of :t (PostgreSQL)"), rows),
            "**event**: append-only logs; each row is a fact at its own time and is never revised.",
            table(("Entity", "Key"), events),
        ]
    )


def _validations_section(manifest: dict[str, Any]) -> str:
    """The checks dbt runs (each a Dagster asset check on the model it guards)."""
    rows = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test" or "validation" not in node["config"].get("tags", []):
            continue
        meta = node["config"].get("meta", {})
        rows.append(
            (
                meta.get("validation", ""),
                f"`{node['name']}`",
                meta["dagster"]["ref"]["name"],
                node["config"]["severity"].lower(),
                prose(meta.get("description", "")),
            )
        )
    intro = (
        "Each is a dbt test and a Dagster asset check on the model it guards; **error** blocks what is "
        "downstream, **warn** alerts. Failing rows are kept in `hubs_audit.<test>`."
    )
    header = ("Validation", "Test", "Guards", "Severity", "What it checks")
    return "\n\n".join(["## Validations", intro, table(header, sorted(rows))])


def render(catalog: Catalog, manifest: dict[str, Any]) -> str:
    """The whole document; the same manifest always gives the same bytes."""
    rels = relationships(catalog)
    sections = [
        _title(),
        _summary_section(summarize(catalog, manifest)),
        _index_section(catalog),
        _property_section(catalog, manifest),
        directory_section(rels),
        _distribution_section(catalog),
        navigation_section(catalog, rels),
        named_navigations_section(catalog),
        _temporal_section(catalog, manifest),
        _validations_section(manifest),
    ]
    return "\n\n".join(sections) + "\n"


def write(path: Path, manifest_path: Path | None = None) -> Path:
    """Render from the manifest (parsed afresh when stale if no path is given) and write to path."""
    catalog, manifest = load(manifest_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(catalog, manifest), encoding="utf-8")
    return path
