"""Search: by meaning (Qdrant, semantic.py) and by words (PostgreSQL full text, keyword.py) over
the entities the catalog declares vectors for, fused by reciprocal rank (RRF, k=60), each hit
saying why it matched; optionally with each hit's one-hop neighbours.

Both sides filter alike: entity, hub and collection pick the entities searched; a status filter
keeps the entities with a status in their vector payload and rows with one of those statuses; a
time range keeps the entities that declare a time (meta.hubs.vectors.time) and rows whose time
is within it (bounds included). Qdrant down, behind PostgreSQL or held by a sync: the answer is
the keyword side alone, degraded, with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from hubs.catalog import Entity
from hubs.catalog_meta import COLLECTIONS
from hubs.recall import inputs, keyword
from hubs.recall.inputs import Names
from hubs.recall.keyword import Filters, KeywordAnswer, KeywordHit
from hubs.recall.model import (
    POSTGRES,
    Expansion,
    Freshness,
    KeywordMatch,
    Neighbours,
    Node,
    Provenance,
    Search,
    SearchHit,
    SemanticMatch,
    bad_input,
    why_failed,
)
from hubs.recall.postgres import Reader
from hubs.recall.semantic import SemanticHit, VectorReader, VectorsUnavailable

RRF_K = 60
MAX_K = 100
MAX_EXPAND = 1
MAX_QUERY_CHARS = 1000
MAX_STATUSES = 20
MODES = ("hybrid", "semantic", "keyword")
EXPAND_LIMIT = 25  # neighbours per hit
#: candidates each side offers the fusion: more than k, so a hit ranked low by one side and high
#: by the other can still rise into the k
MIN_CANDIDATES = 20
T = TypeVar("T", bound=Hashable)


def fuse(rankings: Mapping[str, Sequence[T]], k: int = RRF_K) -> list[tuple[T, float]]:
    """Reciprocal rank fusion: each item scores the sum over the rankings holding it of
    1 / (k + its rank there), rank 1 the best; best first, ties to the better single rank, then
    to the item seen first."""
    scores: dict[T, float] = defaultdict(float)
    best: dict[T, int] = {}
    for ranking in rankings.values():
        for rank, item in enumerate(ranking, start=1):
            scores[item] += 1.0 / (k + rank)
            best[item] = min(best.get(item, rank), rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], best[pair[0]]))


@dataclass(frozen=True)
class Question:
    """A search, checked."""

    text: str
    entities: list[Entity]  # searchable and within the entity, hub and collection filters
    hubs: tuple[str, ...]
    filters: Filters
    k: int
    expand: int
    mode: str

    @property
    def depth(self) -> int:
        return max(self.k, MIN_CANDIDATES) if self.mode == "hybrid" else self.k


def _names(value: Any, what: str) -> list[str]:
    if value is None or value == "" or value == []:
        return []
    values = [value] if isinstance(value, str) else list(value)
    for item in values:
        if not isinstance(item, str) or not item.strip():
            raise bad_input(f"each {what} must be a non-empty string, not {item!r}")
    return values


def _query_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_input("the query must be a non-empty string")
    if "\x00" in value or len(value) > MAX_QUERY_CHARS:
        raise bad_input(f"the query must be at most {MAX_QUERY_CHARS} characters, without NUL")
    return value.strip()


def _searchable(names: Names, chosen: list[str], hubs: list[str], collections: list[str]) -> list[Entity]:
    everything = [e for e in names.catalog.entities if e.vectors]
    for hub in hubs:
        if hub not in names.catalog.schemas:
            raise bad_input(f"unknown hub {hub!r} (one of {', '.join(sorted(names.catalog.schemas))})")
    for collection in collections:
        if collection not in COLLECTIONS:
            raise bad_input(f"unknown collection {collection!r} (one of {', '.join(COLLECTIONS)})")
    picked = everything
    if chosen:
        asked = [names.entity(n) for n in chosen]
        for entity in asked:
            if not entity.vectors:
                searchable = ", ".join(e.name for e in everything)
                raise bad_input(f"{entity.name} is not searchable (these are: {searchable})")
        picked = [e for e in everything if e in asked]
    picked = [
        e for e in picked if (not hubs or e.schema in hubs) and (not collections or e.vectors.collection in collections)
    ]
    if not picked:
        raise bad_input("no searchable entity is in all of the entities, hubs and collections asked for")
    return picked


def question(
    names: Names,
    query: Any,
    entities: Any = None,
    hubs: Any = None,
    collections: Any = None,
    time_from: Any = None,
    time_to: Any = None,
    status: Any = None,
    k: Any = 10,
    expand: Any = 0,
    mode: Any = "hybrid",
) -> Question:
    text = _query_text(query)
    if mode not in MODES:
        raise bad_input(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    hub_names = _names(hubs, "hub")
    chosen = _searchable(names, _names(entities, "entity"), hub_names, _names(collections, "collection"))
    start, end = inputs.valid_at(time_from), inputs.valid_at(time_to)
    if start is not None and end is not None and start > end:
        raise bad_input(f"time_from ({start.isoformat()}) is after time_to ({end.isoformat()})")
    statuses = _names(status, "status")
    if len(statuses) > MAX_STATUSES:
        raise bad_input(f"at most {MAX_STATUSES} statuses")
    filters = Filters(tuple(statuses), start, end)
    return Question(
        text=text,
        entities=[e for e in chosen if keyword.in_scope(e, filters)],
        hubs=tuple(hub_names),
        filters=filters,
        k=inputs.bounded(k, "k", 1, MAX_K),
        expand=inputs.bounded(expand, "expand", 0, MAX_EXPAND),
        mode=mode,
    )


#: Memory.neighbours for one hit (one hop)
Expand = Callable[[str, str], Neighbours | None]


class Searcher:
    """Asks both sides and fuses their answers."""

    def __init__(self, postgres: Reader, vectors: VectorReader) -> None:
        self.postgres = postgres
        self.vectors = vectors

    def search(self, q: Question, lag: Callable[[], Freshness], expand: Expand) -> Search:
        semantic: list[SemanticHit] = []
        words = KeywordAnswer([], [])
        freshness: Freshness | None = None
        why = ""
        if q.mode != "keyword" and q.entities:
            freshness = lag()
            semantic, why = self._semantic(q, freshness)
        if q.mode != "semantic" or why:
            with self.postgres.connection() as conn:
                words = keyword.search(conn, q.entities, q.text, q.filters, q.depth)
        hits = _fused(semantic, words.hits, q.k)
        if q.expand:
            hits = [replace(h, expansion=_expansion(expand(h.entity, h.key))) for h in hits]
        provenance = self._provenance(q, freshness, why)
        if words.cut:
            cut = (
                f"; keyword ranked the first {keyword.CANDIDATES} matching rows of {', '.join(words.cut)}"
                " (more match: add words or filters)"
            )
            provenance = replace(provenance, reason=provenance.reason + cut)
        return Search(q.text, q.mode, [e.name for e in q.entities], hits, provenance)

    def _semantic(self, q: Question, freshness: Freshness) -> tuple[list[SemanticHit], str]:
        """The semantic hits, or why Qdrant could not give them."""
        if not freshness.in_sync:
            return [], f"Qdrant is behind PostgreSQL ({freshness.description})"
        try:
            client = self.vectors.client(freshness.last_sync, freshness.generation)
            hits = self.vectors.search(client, q.entities, q.text, q.filters, q.hubs, q.depth, freshness.generation)
            return hits, ""
        except VectorsUnavailable as exc:
            return [], str(exc)
        except Exception as exc:  # any failure of a derived store: the keyword side answers
            self.vectors.drop()
            return [], f"Qdrant failed ({why_failed(exc)})"

    def _provenance(self, q: Question, freshness: Freshness | None, why: str) -> Provenance:
        read_as = self.postgres.read_as
        if why:
            return Provenance(
                POSTGRES, True, f"{why}: answered by keyword (PostgreSQL full text) alone", freshness, read_as=read_as
            )
        if q.mode == "keyword":
            return Provenance(POSTGRES, False, "keyword (PostgreSQL full text), as asked", read_as=read_as)
        model = self.vectors.embedder.model if self.vectors.embedder else ""
        if q.mode == "semantic":
            return Provenance("vectors", False, f"semantic (Qdrant, {model}), as asked", freshness)
        return Provenance(
            "vectors",
            False,
            f"semantic (Qdrant, {model}) and keyword (PostgreSQL full text), fused by reciprocal rank (k={RRF_K})",
            freshness,
            read_as=read_as,
        )


def _fused(semantic: list[SemanticHit], keywords: list[KeywordHit], k: int) -> list[SearchHit]:
    by_meaning = {(h.entity.name, h.key): (rank, h) for rank, h in enumerate(semantic, start=1)}
    by_words = {(h.entity.name, h.key): (rank, h) for rank, h in enumerate(keywords, start=1)}
    entities = {h.entity.name: h.entity for h in [*semantic, *keywords]}
    fused = fuse({"semantic": list(by_meaning), "keyword": list(by_words)})
    hits = []
    for (name, key), score in fused[:k]:
        meaning, words = by_meaning.get((name, key)), by_words.get((name, key))
        hits.append(
            SearchHit(
                entity=name,
                key=key,
                label=entities[name].label,
                score=score,
                semantic=SemanticMatch(meaning[0], meaning[1].score) if meaning else None,
                keyword=KeywordMatch(words[0], words[1].rank, words[1].terms) if words else None,
            )
        )
    return hits


def _expansion(found: Neighbours | None) -> Expansion | None:
    if found is None:
        return None
    nodes = [Node(n.label, n.key, n.hops) for n in found.nodes]
    return Expansion(nodes, found.relationships, found.truncated, found.provenance.store, found.provenance.degraded)
