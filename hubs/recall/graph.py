"""Neighbours from the graph replica, through the graph dialect (the same Cypher on FalkorDB and
Neo4j), read-only and within a time limit.

Labels and relationship types in the text are the catalog's (checked by inputs.py before they
get here); keys, types to cross, labels to reach and times are parameters. Times on the replica
are ISO 8601 UTC text (hubs/sync/records.normalize), so `r.valid_from <= $at` with `at` in the
same spelling compares instants; no index of FalkorDB's is read for it (the replica keeps none
on times, see hubs/sync/graph/falkordb_indexes.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from hubs.recall.expand import Found, Frontier, Step
from hubs.recall.lags import Backoff
from hubs.recall.model import Freshness, Node, NodeRef, RecallError, Relation, why_failed
from hubs.secrets import scrub
from hubs.settings import Settings
from hubs.sync.connections import graph_dialect
from hubs.sync.graph.dialect import GraphDialect

log = logging.getLogger(__name__)
T = TypeVar("T")
PATTERN_TYPES = 16

# whether the frontier node `a` is the relationship's start -> the pattern, given the types
_DIRECTIONS = {True: "(a)-[r:{}]->(b)", False: "(a)<-[r:{}]-(b)"}
_INTERVAL = " AND (r.valid_from IS NULL OR (r.valid_from <= $at AND (r.valid_to IS NULL OR r.valid_to > $at)))"


def _branch(label: str, keys: str, outgoing: bool, step: Step) -> str:
    # A few types go in the pattern (the catalog's names, checked by inputs.py): FalkorDB 4.16 then
    # reads only those edges of the node (DROVE of a unit with ~5,000 edges: 0.24 ms, against 23 ms
    # for `type(r) IN $types`). Many types in the pattern are slower than the filter: 93 of them
    # from a legal entity took over 5 s where the filter took a fraction of one.
    if len(step.types) <= PATTERN_TYPES:
        pattern, where = _DIRECTIONS[outgoing].format("|".join(step.types)), "true"
    else:
        pattern, where = _DIRECTIONS[outgoing].replace(":{}", ""), "type(r) IN $types"
    if step.labels is not None:
        where += " AND labels(b)[0] IN $labels"
    if step.at is not None:
        where += _INTERVAL
    return (
        f"UNWIND ${keys} AS k MATCH (a:{label} {{key: k}}) MATCH {pattern} WHERE {where} "
        f"RETURN {'true' if outgoing else 'false'} AS outgoing, labels(a)[0] AS near_label, a.key AS near, "
        "type(r) AS type, labels(b)[0] AS label, b.key AS far, properties(r) AS rel LIMIT $cap"
    )


def expansion(labels: list[str], step: Step) -> str:
    """One query for a hop from the nodes of every label (`$keys<i>`: the keys of labels[i]), both
    directions, in one round trip; each part keeps its own cap."""
    wanted = [outgoing for outgoing, asked in ((True, step.outgoing), (False, step.incoming)) if asked]
    return " UNION ALL ".join(
        _branch(label, f"keys{i}", outgoing, step) for i, label in enumerate(labels) for outgoing in wanted
    )


def properties_query(labels: list[str]) -> str:
    """One query for the properties of nodes of several labels (`$keys<i>`: the keys of labels[i])."""
    return " UNION ALL ".join(
        f"UNWIND $keys{i} AS k MATCH (n:{label} {{key: k}}) RETURN labels(n)[0] AS label, n.key AS key, "
        "properties(n) AS props"
        for i, label in enumerate(labels)
    )


def _node(label: str, key: str, props: dict[str, Any], hops: int = 0) -> Node:
    return Node(label, key, hops, {k: v for k, v in props.items() if k != "key"})


class GraphSide:
    def __init__(self, dialect: GraphDialect, timeout_ms: int) -> None:
        self.dialect = dialect
        self.timeout_ms = timeout_ms

    def node(self, label: str, key: str) -> Node | None:
        rows = self.dialect.read(
            f"MATCH (a:{label} {{key: $key}}) RETURN properties(a)", {"key": key}, timeout_ms=self.timeout_ms
        )
        return _node(label, key, dict(rows[0][0])) if rows else None

    def expand(self, frontier: Frontier, step: Step) -> tuple[list[Found], bool]:
        labels = sorted(frontier)
        params: dict[str, Any] = {"types": list(step.types), "labels": list(step.labels or ()), "cap": step.cap}
        params.update({f"keys{i}": frontier[label] for i, label in enumerate(labels)})
        if step.at is not None:
            params["at"] = step.at
        rows = self.dialect.read(expansion(labels, step), params, timeout_ms=self.timeout_ms)
        found: list[Found] = []
        counts: dict[tuple[bool, str], int] = {}
        for outgoing, near_label, near, rel_type, far_label, far, rel in rows:
            part = (bool(outgoing), str(near_label))
            counts[part] = counts.get(part, 0) + 1
            props = dict(rel)
            owner = str(props.pop("_owner", ""))
            here, there = NodeRef(str(near_label), str(near)), NodeRef(str(far_label), str(far))
            start, end = (here, there) if outgoing else (there, here)
            found.append((Relation(str(rel_type), start, end, props, owner), Node(there.label, there.key, 0)))
        return found, max(counts.values(), default=0) >= step.cap

    def with_properties(self, nodes: list[Node]) -> list[Node]:
        """The nodes with their properties, read once per node (a node reached by many
        relationships is not read again with each: parsing them is most of a question's time),
        every label in one round trip."""
        by_label: dict[str, list[str]] = {}
        for node in nodes:
            by_label.setdefault(node.label, []).append(node.key)
        labels = sorted(by_label)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        if labels:
            params = {f"keys{i}": by_label[label] for i, label in enumerate(labels)}
            rows = self.dialect.read(properties_query(labels), params, timeout_ms=self.timeout_ms)
            found = {(str(label), str(key)): dict(props) for label, key, props in rows}
        return [_node(n.label, n.key, found.get((n.label, n.key), {}), n.hops) for n in nodes]

    def close(self) -> None:
        self.dialect.close()


class GraphConnection:
    """The graph server, connected on first use and never started from here. After a failure it
    is left alone for a moment (lags.Backoff)."""

    def __init__(self, settings: Settings, timeout_ms: int) -> None:
        self.settings = settings
        self.timeout_ms = timeout_ms
        self._side: GraphSide | None = None
        self.backoff = Backoff("graph")
        self._lock = threading.Lock()

    def ask(
        self, source: str, lag: Freshness, question: Callable[[GraphSide], T | None], missing: str
    ) -> tuple[T | None, str]:
        """The graph's answer to `question` and "", or None and why the graph did not give it:
        behind, unreachable moments ago, failing, or without the node asked about (`question`
        answered None: `missing`). With source "graph" that is a RecallError instead (404 for the
        missing node, 503 otherwise); with "auto" the caller asks PostgreSQL."""
        why = "" if source == "graph" else self.backoff.refused(lag)
        if not why:
            try:
                found = question(self.side())
                if found is not None:
                    return found, ""
                why = missing
            except Exception as exc:  # any failure of a derived store: PostgreSQL answers instead
                why = f"the graph failed ({why_failed(exc)})"
                self.drop()
        if source == "graph":
            raise RecallError(404 if why == missing else 503, why)
        return None, why

    def side(self) -> GraphSide:
        with self._lock:
            if self._side is None:
                try:
                    self._side = GraphSide(graph_dialect(self.settings, start=False), self.timeout_ms)
                except Exception:
                    self.backoff.failed()
                    raise
            return self._side

    def drop(self) -> None:
        with self._lock:
            side, self._side = self._side, None
            self.backoff.failed()
        if side is not None:
            try:
                side.close()
            except Exception as exc:  # closing a lost connection may fail too; nothing to keep
                log.debug("closing the graph connection: %s: %s", type(exc).__name__, scrub(str(exc)))
