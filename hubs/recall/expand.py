"""Neighbours, breadth first: the one algorithm both stores answer through.

A store only has to say, for a set of nodes, which relationships of the asked types touch them
(in the asked direction, valid at the asked time) and what is at their other end. Everything
else (which nodes count as reached, at what distance, where to stop, what a truncated answer
keeps) is decided here, once, so the graph and PostgreSQL give the same answer to the same
question.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from hubs.recall.model import Node, NodeRef, Relation

#: label -> keys of the nodes to expand from
Frontier = dict[str, list[str]]
#: a relationship and the node at its far end (as seen from the frontier node it touches)
Found = tuple[Relation, Node]


@dataclass(frozen=True)
class Step:
    """What one hop may cross."""

    types: tuple[str, ...]  # relationship types (the catalog's)
    labels: tuple[str, ...] | None  # labels a reached node may have (None: any)
    direction: str  # out | in | both, as seen from the node expanded
    at: str | None  # ISO 8601 UTC: relationships with valid_from/valid_to must be valid then
    cap: int  # rows one query may return (the answer's limit, plus one to tell it was cut)

    @property
    def outgoing(self) -> bool:
        return self.direction in ("out", "both")

    @property
    def incoming(self) -> bool:
        return self.direction in ("in", "both")


#: a store's answer for one hop: what it found, and whether a query was cut at its cap
Expand = Callable[[Frontier, Step], tuple[list[Found], bool]]


def _order(found: Found) -> tuple:
    relation, node = found
    return (node.label, node.key, relation.type, relation.start, relation.end, relation.owner)


def breadth_first(
    start: Node, hops: int, step: Step, expand: Expand, limit: int
) -> tuple[list[Node], list[Relation], bool]:
    """The nodes reached within `hops` (nearest first, the start left out), every relationship
    crossed to reach or re-reach them, and whether the answer was cut at `limit`."""
    reached: dict[NodeRef, Node] = {start.ref: start}
    relations: dict[tuple, Relation] = {}
    frontier: Frontier = {start.label: [start.key]}
    truncated = False
    for hop in range(1, hops + 1):
        found, capped = expand(frontier, step)
        truncated |= capped
        following: Frontier = defaultdict(list)
        for relation, node in sorted(found, key=_order):
            relations.setdefault(relation.identity(), relation)
            if node.ref not in reached:
                reached[node.ref] = Node(node.label, node.key, hop, node.properties)
                following[node.label].append(node.key)
        if len(relations) > limit or len(reached) - 1 > limit:
            truncated = True
            break
        if not following:
            break
        frontier = dict(following)
    nodes = sorted((n for n in reached.values() if n.hops > 0), key=lambda n: (n.hops, n.label, n.key))
    kept = sorted(relations.values(), key=lambda r: (r.type, r.start, r.end, r.owner))
    return nodes[:limit], kept[:limit], truncated
