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
#: the server's id of each node a question has reached (dialect.node_id), kept for its next hop
Ids = dict[NodeRef, Any]
PATTERN_TYPES = 16

# whether the frontier node `a` is the relationship's start -> the pattern, given the types
_DIRECTIONS = {True: "(a)-[r:{}]->(b)", False: "(a)<-[r:{}]-(b)"}
_INTERVAL = " AND (r.valid_from IS NULL OR (r.valid_from <= $at AND (r.valid_to IS NULL OR r.valid_to > $at)))"


#: where a query's frontier nodes `a` come from: the keys of one label (its index), or the ids
#: the previous hop found (one lookup each, whatever their labels). The WITH keeps FalkorDB from
#: planning the match from `b`'s end when `b` is filtered by label: a scan of every node (>5 s).
_BY_KEY = "UNWIND ${keys} AS k MATCH ({var}:{label} {{key: k}})"
_BY_ID = "UNWIND $ids AS i MATCH ({var}) WHERE {node_id}({var}) = i WITH {var}"


def _branch(source: str, node_id: str, outgoing: bool, step: Step) -> str:
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
        f"{source} MATCH {pattern} WHERE {where} "
        f"RETURN {'true' if outgoing else 'false'} AS outgoing, labels(a)[0] AS near_label, a.key AS near, "
        f"type(r) AS type, labels(b)[0] AS label, b.key AS far, properties(r) AS rel, {node_id}(b) AS far_id, "
        f"{node_id}(a) AS near_id LIMIT $cap"
    )


def expansion(labels: list[str] | None, step: Step, node_id: str) -> str:
    """One query for a hop, both directions, in one round trip: from the nodes of every label
    (`$keys<i>`: the keys of labels[i]), each part with its own cap, or, `labels` None, from the
    nodes with the ids `$ids`, a part (and a cap) per direction. The by-id form is one plan
    whatever the labels: a hop from 100 nodes of 13 labels took 12 ms as 26 parts, 2.5 ms so."""
    wanted = [outgoing for outgoing, asked in ((True, step.outgoing), (False, step.incoming)) if asked]
    if labels is None:
        sources = [_BY_ID.format(var="a", node_id=node_id)]
    else:
        sources = [_BY_KEY.format(var="a", keys=f"keys{i}", label=label) for i, label in enumerate(labels)]
    return " UNION ALL ".join(_branch(source, node_id, outgoing, step) for source in sources for outgoing in wanted)


def properties_query(labels: list[str], node_id: str) -> str:
    """One query for the properties of nodes by key (`$keys<i>`: the keys of labels[i]) and by
    id (`$ids`)."""
    by_key = [_BY_KEY.format(var="n", keys=f"keys{i}", label=label) for i, label in enumerate(labels)]
    return " UNION ALL ".join(
        f"{source} RETURN labels(n)[0] AS label, n.key AS key, properties(n) AS props"
        for source in [*by_key, _BY_ID.format(var="n", node_id=node_id)]
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

    def expand(self, frontier: Frontier, step: Step, ids: Ids) -> tuple[list[Found], bool]:
        """A hop from the frontier: by the ids an earlier hop of the question found (`ids`, which
        this fills with the ids of the nodes it reaches), else by label and key."""
        params: dict[str, Any] = {"types": list(step.types), "labels": list(step.labels or ()), "cap": step.cap}
        refs = [NodeRef(label, key) for label in sorted(frontier) for key in frontier[label]]
        by_id = all(ref in ids for ref in refs)
        labels = None if by_id else sorted(frontier)
        if labels is None:
            params["ids"] = [ids[ref] for ref in refs]
        else:
            params.update({f"keys{i}": frontier[label] for i, label in enumerate(labels)})
        if step.at is not None:
            params["at"] = step.at
        rows = self.dialect.read(expansion(labels, step, self.dialect.node_id), params, timeout_ms=self.timeout_ms)
        found: list[Found] = []
        counts: dict[tuple[bool, str], int] = {}
        asked = set(refs)
        for outgoing, near_label, near, rel_type, far_label, far, rel, far_id, near_id in rows:
            part = (bool(outgoing), "" if by_id else str(near_label))  # what one cap counted
            counts[part] = counts.get(part, 0) + 1
            props = dict(rel)
            owner = str(props.pop("_owner", ""))
            here, there = NodeRef(str(near_label), str(near)), NodeRef(str(far_label), str(far))
            if here not in asked:  # an id a sync freed and reused since the last hop: not ours
                continue
            ids.setdefault(here, near_id)
            ids.setdefault(there, far_id)
            start, end = (here, there) if outgoing else (there, here)
            found.append((Relation(str(rel_type), start, end, props, owner), Node(there.label, there.key, 0)))
        return found, max(counts.values(), default=0) >= step.cap

    def with_properties(self, nodes: list[Node], ids: Ids) -> list[Node]:
        """The nodes with their properties (those the graph lacks left out), read once per node
        (a node reached by many relationships is not read again with each: parsing them is most of
        a question's time) by its id when known, else by label and key, in one round trip."""
        by_label: dict[str, list[str]] = {}
        for node in nodes:
            if node.ref not in ids:
                by_label.setdefault(node.label, []).append(node.key)
        labels = sorted(by_label)
        params: dict[str, Any] = {f"keys{i}": by_label[label] for i, label in enumerate(labels)}
        params["ids"] = [ids[n.ref] for n in nodes if n.ref in ids]
        found: dict[tuple[str, str], dict[str, Any]] = {}
        if nodes:
            query = properties_query(labels, self.dialect.node_id)
            rows = self.dialect.read(query, params, timeout_ms=self.timeout_ms)
            found = {(str(label), str(key)): dict(props) for label, key, props in rows}
        return [_node(n.label, n.key, found[n.label, n.key], n.hops) for n in nodes if (n.label, n.key) in found]

    def close(self) -> None:
        self.dialect.close()


class GraphConnection:
    """The graph server, connected on first use and never started from here. After a failure it
    is left alone for a moment (lags.Backoff)."""

    def __init__(self, settings: Settings, timeout_ms: int) -> None:
        self.settings = settings
        self.timeout_ms = timeout_ms
        self._side: GraphSide | None = None
        self._generation = 0  # of the graph _side reads
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
                found = question(self.side(lag.generation))
                if found is not None:
                    return found, ""
                why = missing
            except Exception as exc:  # any failure of a derived store: PostgreSQL answers instead
                why = f"the graph failed ({why_failed(exc)})"
                self.drop()
        if source == "graph":
            raise RecallError(404 if why == missing else 503, why)
        return None, why

    def side(self, generation: int) -> GraphSide:
        """The connection to the replica's `generation` (the published one, as the freshness figures
        read it): a publish or a rollback since the last question moves it to the other graph."""
        with self._lock:
            if self._side is not None and self._generation != generation:
                stale, self._side = self._side, None
                _close(stale)
            if self._side is None:
                try:
                    dialect = graph_dialect(self.settings, start=False, generation=generation)
                    self._side, self._generation = GraphSide(dialect, self.timeout_ms), generation
                except Exception:
                    self.backoff.failed()
                    raise
            return self._side

    def drop(self) -> None:
        with self._lock:
            side, self._side = self._side, None
            self.backoff.failed()
        if side is not None:
            _close(side)


def _close(side: GraphSide) -> None:
    try:
        side.close()
    except Exception as exc:  # closing a lost connection may fail too; nothing to keep
        log.debug("closing the graph connection: %s: %s", type(exc).__name__, scrub(str(exc)))
