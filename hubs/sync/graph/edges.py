"""The relationships of a row, read from its entity's meta.hubs.relationships.

Every edge is owned by the row it comes from (property `_owner` = "<Label>:<key>"), so when a
row changes or disappears its edges are replaced or removed, whatever the edge's direction.
Forms: a foreign key (`columns`, optionally `direction: in`); a row projected as an edge
between two of its foreign keys' targets (`from_columns`/`to_columns`, e.g. DROVE with its
interval: the row is the relationship, and the timeline draws the first such projection); a link
between two of its foreign keys' targets that the row makes while staying a node of its own
(`link_from`/`link_to`: a trip puts its load on its tractor, ASSIGNED_UNIT); a key naming its
entity (`subject_column`, 'tractor:6520'); a typed pair of key columns (`key_columns` +
`targets`, drawn from a foreign key's target instead of the row with `link_from`: an invoice
BILLS the load its match names); an array of keys (`array_column`); references inside a JSON document
(`json_column`). SCD-2 entities also carry their versions as VERSION self-edges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hubs.catalog import Catalog, Entity
from hubs.catalog_meta import Relationship
from hubs.sync.records import join_key, normalize

VERSION = "VERSION"


@dataclass(frozen=True)
class Edge:
    type: str
    from_label: str
    from_key: str
    to_label: str
    to_key: str
    props: dict[str, Any] = field(default_factory=dict)
    to_property: str = "key"  # the target is found by this property (LISTS finds tractors by VIN)


def array_elements(value: Any) -> list[Any]:
    """An array column's elements. psycopg2 hands over arrays of a type it has no caster for
    (uuid[]) as PostgreSQL's text form, '{a,b,"c d",NULL}': that form is read here too."""
    if value is None:
        return []
    if not isinstance(value, str):
        return list(value)
    inner = value.strip()[1:-1]
    elements: list[Any] = []
    token, quoted, escaped, in_quotes = "", False, False, False
    for char in inner:
        if escaped:
            token, escaped = token + char, False
        elif char == "\\":
            escaped = True
        elif char == '"':
            in_quotes, quoted = not in_quotes, True
        elif char == "," and not in_quotes:
            elements.append(None if token == "NULL" and not quoted else token)
            token, quoted = "", False
        else:
            token += char
    if inner:
        elements.append(None if token == "NULL" and not quoted else token)
    return elements


class Relationships:
    """Turns rows into edges for every entity of a catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.by_model = {e.model: e for e in catalog.entities}
        self.by_name = {e.name: e for e in catalog.entities}
        self.by_table = {e.table: e for e in catalog.entities}

    @staticmethod
    def _key(row: dict[str, Any], columns: tuple[str, ...]) -> str | None:
        if len(columns) == 1:  # most keys: join_key of one value is that value as text
            value = row.get(columns[0])
            return None if value is None else str(normalize(value))
        values = [row.get(c) for c in columns]
        if any(v is None for v in values):
            return None
        return join_key(values)

    def types(self) -> set[str]:
        """Every relationship type the catalog declares (the graph must hold exactly these)."""
        declared = {r.type for e in self.catalog.entities for r in e.relationships}
        if any(e.history == "scd2" for e in self.catalog.entities):
            declared.add(VERSION)
        return declared

    def lookup_properties(self) -> dict[str, set[str]]:
        """Per label, the node properties other than `key` that relationships find nodes by."""
        found: dict[str, set[str]] = {}
        for (_, _, to_label), prop in self._target_properties().items():
            found.setdefault(to_label, set()).add(prop)
        return found

    def target_property(self, rel_type: str, from_label: str, to_label: str) -> str:
        """The property a relationship of this kind finds its end node by."""
        return self._target_properties().get((rel_type, from_label, to_label), "key")

    def _target_properties(self) -> dict[tuple[str, str, str], str]:
        return {
            (rel.type, rel.start_label, end): rel.target_column
            for entity in self.catalog.entities
            for rel in entity.relationships
            if rel.target_column
            for end in rel.end_labels
        }

    def projection_types(self, entity: Entity) -> list[str]:
        """Types whose edges need not touch the owner's node (found by _owner to replace them)."""
        return sorted({r.type for r in entity.relationships if r.form != "fk"})

    def direct(self, entity: Entity, key: str, row: dict[str, Any]) -> list[Edge]:
        """Foreign-key edges: both ends exist once parents are synced before children."""
        return [edge for rel in entity.relationships if rel.form == "fk" for edge in self._pair(rel, row)]

    def indirect(self, entity: Entity, key: str, row: dict[str, Any]) -> list[Edge]:
        """Every other form; their targets may belong to entities synced later."""
        edges: list[Edge] = []
        for rel in entity.relationships:
            if rel.form in ("edge", "link"):
                edges += self._pair(rel, row)
            elif rel.form == "subject":
                edges += self._subject(rel, key, row)
            elif rel.form == "typed_key":
                kind, ref = (row.get(c) for c in rel.key_columns)
                target = self.by_model.get(rel.target_model(kind))
                start_key = self._key(row, rel.start_columns)
                if target is not None and ref is not None and start_key is not None:
                    edges.append(Edge(rel.type, rel.start_label, start_key, target.label, str(ref)))
            elif rel.form == "array":
                [target] = rel.end_labels
                for value in array_elements(row.get(rel.column)):
                    if value is not None:
                        edges.append(Edge(rel.type, rel.start_label, key, target, str(normalize(value))))
            elif rel.form == "json":
                edges += self._json(rel, key, row)
        return edges

    def _pair(self, rel: Relationship, row: dict[str, Any]) -> list[Edge]:
        """The edge between the rows two column lists of this row name (a foreign key, a
        projection or a link), with the relationship's properties."""
        from_key, to_key = self._key(row, rel.start_columns), self._key(row, rel.end_columns)
        if from_key is None or to_key is None:
            return []
        props = {p: normalize(row[p]) for p in rel.properties if row.get(p) is not None}
        [end] = rel.end_labels
        return [Edge(rel.type, rel.start_label, from_key, end, to_key, props)]

    def _subject(self, rel: Relationship, key: str, row: dict[str, Any]) -> list[Edge]:
        subject = row.get(rel.column)
        if not subject or ":" not in subject:
            return []
        name, ref = subject.split(":", 1)
        target = self.by_name.get(name)
        return [Edge(rel.type, rel.start_label, key, target.label, ref)] if target else []

    def _json(self, rel: Relationship, key: str, row: dict[str, Any]) -> list[Edge]:
        document = row.get(rel.column)
        if isinstance(document, str):
            document = json.loads(document)
        if not document:
            return []
        label = rel.start_label
        if rel.path:  # e.g. Form 2290 details.vins -> tractors by VIN
            [target] = rel.end_labels
            return [
                Edge(rel.type, label, key, target, str(v), to_property=rel.target_column or "key")
                for v in (document.get(rel.path) or [])
            ]
        edges = []
        for element in document if isinstance(document, list) else []:
            if rel.targets:  # e.g. payment applications: {doc_type, <target key columns>, amount}
                target = self.by_model.get(rel.target_model(element.get("doc_type")))
            else:  # evidence: {hub, table, key}
                target = self.by_table.get(element.get("table", ""))
            if target is None:
                continue
            if "key" in element:
                ref = str(element["key"])
            elif all(c in element for c in target.primary_key):
                ref = join_key(element[c] for c in target.primary_key)
            else:
                continue
            props = {p: element[p] for p in rel.properties if p in element}
            edges.append(Edge(rel.type, label, key, target.label, ref, props))
        return edges

    def versions(self, entity: Entity, key: str, versions: list[dict[str, Any]]) -> list[Edge]:
        """An SCD-2 entity's history as self-edges with their time bounds and tracked facts."""
        facts = entity.timeline_facts
        label = entity.label
        edges = []
        for version in versions:
            props = {"valid_from": normalize(version["valid_from"])}
            if version.get("valid_to") is not None:
                props["valid_to"] = normalize(version["valid_to"])
            props.update({f: normalize(version[f]) for f in facts if version.get(f) is not None})
            edges.append(Edge(VERSION, label, key, label, key, props))
        return edges
