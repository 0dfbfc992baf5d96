"""Memory: the one read API over the hubs (the HTTP and MCP interfaces wrap it).

    with Memory() as memory:
        memory.get("tractor", "6520")                        # a Record
        memory.neighbours("tractor", "6520", types=["DROVE"], at="2025-03-01T10:00:00Z")

Each question is answered by the store that serves it when that store can: the cache for
records of entities it holds (read-through), the graph for neighbours. When that store is down
or its watermarks are behind PostgreSQL (hubs/freshness.py's figures, read at most every
`freshness_seconds`), PostgreSQL answers and the provenance says so. Memory never starts a
server: a stopped store is a degraded answer, a stopped PostgreSQL a RecallError(503).
"""

from __future__ import annotations

import gc
import logging
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import redis

from hubs import settings as hubs_settings
from hubs.catalog import Catalog, Entity, load_catalog
from hubs.recall import context as blocks
from hubs.recall import history, inputs, navigate, search
from hubs.recall.expand import Found, Frontier, Step, breadth_first
from hubs.recall.graph import GraphConnection, GraphSide, Ids
from hubs.recall.inputs import DEFAULT_LIMIT, QUERY_TIMEOUT_MS, Key, Names
from hubs.recall.lags import FRESHNESS_SECONDS, Lags
from hubs.recall.model import (
    POSTGRES,
    AsOf,
    Changes,
    Context,
    Freshness,
    Navigated,
    NavigationInfo,
    Neighbours,
    Node,
    Provenance,
    RecallError,
    Record,
    Search,
    TimeBounds,
    TimelineSearch,
    answered_by_postgres,
    bad_input,
    why_failed,
)
from hubs.recall.postgres import Reader, current_row
from hubs.recall.readthrough import ReadThrough
from hubs.recall.relations import PostgresSide
from hubs.recall.semantic import VectorReader
from hubs.recall.timeline import TimelineConnection, Window, edge_name, query_text
from hubs.settings import Settings
from hubs.sync.connections import cache_client
from hubs.sync.kinds import holds
from hubs.sync.records import key_of, properties

log = logging.getLogger(__name__)
SOURCES = ("auto", "graph", POSTGRES)
AS_OF_SOURCES = ("auto", "timeline", POSTGRES)
TIMELINE_K = 10
CACHE_TIMEOUT_SECONDS = 1.0


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _period_rule(window: Window) -> str:
    start = window.valid_from.isoformat() if window.valid_from else "-infinity"
    end = window.valid_to.isoformat() if window.valid_to else "infinity"
    return f"valid at some time in [{start}, {end}): valid_from < end and (valid_to is null or valid_to > start)"


@dataclass(frozen=True)
class _Question:
    """A neighbours question, checked."""

    entity: Entity
    key: Key
    hops: int
    step: Step
    limit: int

    @property
    def bounds(self) -> TimeBounds | None:
        return TimeBounds(self.step.at) if self.step.at else None


def settle() -> None:
    """For a process that serves questions (`hubs serve`, `hubs mcp`), once its Memory is made:
    take what exists so far (the catalog, the clients, the imported modules) out of the garbage
    collector's view. It lives as long as the process, yet every full collection walked it: ~135
    ms at a time, the p99 of a two-hop neighbours question (140 ms; 23 ms settled, measured)."""
    gc.collect()
    gc.freeze()


class Memory:
    def __init__(
        self,
        settings: Settings | None = None,
        catalog: Catalog | None = None,
        freshness_seconds: float = FRESHNESS_SECONDS,
        timeout_ms: int = QUERY_TIMEOUT_MS,
    ) -> None:
        self.settings = settings or hubs_settings.load()
        self.catalog = catalog or load_catalog()
        self.names = Names(self.catalog)
        self.timeout_ms = timeout_ms
        self.postgres = Reader(self.settings, timeout_ms)
        self.relations = PostgresSide(self.catalog)
        self.cache = ReadThrough(cache_client(self.settings, start=False, timeout=CACHE_TIMEOUT_SECONDS))
        self.vectors = VectorReader(self.settings)
        self.vectors.know(self.catalog.entities)
        self.lags = Lags(self.postgres, self.catalog, freshness_seconds, self.vectors.store_name)
        self.graph = GraphConnection(self.settings, timeout_ms)
        self.searcher = search.Searcher(self.postgres, self.vectors)
        self.navigator = navigate.Navigator(self.catalog)
        self.timeline = TimelineConnection(self.settings, timeout_ms)

    # -- freshness ---------------------------------------------------------------------------------

    def freshness(self, store: str) -> Freshness:
        """The store's lag behind PostgreSQL (read again when older than `freshness_seconds`)."""
        return self.lags.of(store)

    # -- get ---------------------------------------------------------------------------------------

    def get(self, entity: str, key: str, columns: list[str] | None = None) -> Record:
        """The current record of an entity by key (composite keys joined with '|')."""
        found = self.names.entity(entity)
        parsed = self.names.key(found, key)
        wanted = self.names.columns(found, columns)
        record = (
            self._cached(found, parsed)
            if found.cache
            else self._record_from_postgres(found, parsed, Provenance(POSTGRES))
        )
        if wanted is not None:
            record = Record(
                record.entity, record.label, record.key, {c: record.values.get(c) for c in wanted}, record.provenance
            )
        return record

    def _record_from_postgres(self, entity: Entity, key: Key, provenance: Provenance) -> Record:
        with self.postgres.connection() as conn:
            row = current_row(conn, entity, key)
        if row is None:
            raise RecallError(404, f"no {entity.name} with key {key.text!r}")
        provenance = replace(provenance, read_as=self.postgres.read_as)
        return Record(entity.name, entity.label, key_of(entity, row), properties(entity, row), provenance)

    def _cached(self, entity: Entity, key: Key) -> Record:
        lag = self.freshness("cache")
        if not lag.in_sync:
            why = f"the cache is behind PostgreSQL ({lag.description}): read from PostgreSQL"
            return self._record_from_postgres(entity, key, Provenance(POSTGRES, True, why, lag))
        try:
            seen = self.cache.look(entity, key.text)
        except redis.RedisError as exc:
            why = f"the cache is unreachable ({why_failed(exc)}): read from PostgreSQL"
            return self._record_from_postgres(entity, key, Provenance(POSTGRES, True, why, lag))
        if seen.values is not None:
            return Record(
                entity.name, entity.label, key.text, seen.values, Provenance("cache", False, "", lag, seen.ttl_left_ms)
            )
        with self.postgres.connection() as conn:
            row = current_row(conn, entity, key)
        if row is None:
            raise RecallError(404, f"no {entity.name} with key {key.text!r}")
        try:
            ttl = self.cache.fill(entity, key.text, row, seen.generation)
            why = (
                "not in the cache: read from PostgreSQL and cached"
                if ttl
                else ("not in the cache: read from PostgreSQL (not cached: the entity changed meanwhile)")
            )
        except redis.RedisError as exc:
            ttl, why = None, f"not in the cache: read from PostgreSQL (not cached: {why_failed(exc)})"
        provenance = Provenance(POSTGRES, False, why, lag, ttl, read_as=self.postgres.read_as)
        return Record(entity.name, entity.label, key.text, properties(entity, row), provenance)

    # -- neighbours --------------------------------------------------------------------------------

    def neighbours(
        self,
        entity: str,
        key: str,
        hops: int = 1,
        types: list[str] | None = None,
        labels: list[str] | None = None,
        direction: str = "both",
        at: str | datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        source: str = "auto",
    ) -> Neighbours:
        """Nodes within `hops` of a node and the relationships that reach them: of the given types
        (default all), to nodes of the given labels (default any), interval relationships only
        when valid at `at` (ISO 8601). `source` "graph" or "postgres" asks that store alone (the
        same answer, but for the relationship forms PostgreSQL does not compute: see provenance)."""
        question = self._question(entity, key, hops, types, labels, direction, at, limit)
        if source not in SOURCES:
            raise bad_input(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
        lag = self.freshness("graph")
        why = ""
        if source != POSTGRES:
            missing = f"the graph has no node {question.entity.label} {question.key.text!r}"
            answer, why = self.graph.ask(source, lag, lambda side: self._from_graph(side, question, lag), missing)
            if answer is not None:
                return answer
        return self._neighbours_from_postgres(question, lag, why)

    def _question(
        self,
        entity: str,
        key: str,
        hops: int,
        types: list[str] | None,
        labels: list[str] | None,
        direction: str,
        at: str | datetime | None,
        limit: int,
    ) -> _Question:
        found = self.names.entity(entity)
        moment = inputs.valid_at(at)
        limit = inputs.limit(limit)
        step = Step(
            types=self.names.relationship_types(types),
            labels=self.names.labels(labels),
            direction=inputs.direction(direction),
            at=moment.astimezone(UTC).isoformat() if moment else None,
            cap=limit + 1,
        )
        return _Question(found, self.names.key(found, key), inputs.hops(hops), step, limit)

    def _from_graph(self, graph: GraphSide, question: _Question, lag: Freshness) -> Neighbours | None:
        # The start's properties come with the others' (one round trip less): a start the graph
        # lacks has no relationships either, and is told by its missing properties.
        start = Node(question.entity.label, question.key.text, 0)
        ids: Ids = {}

        def expand(frontier: Frontier, step: Step) -> tuple[list[Found], bool]:
            return graph.expand(frontier, step, ids)

        nodes, relations, cut = breadth_first(start, question.hops, question.step, expand, question.limit)
        read = graph.with_properties([start, *nodes], ids)
        if not read or read[0].ref != start.ref:
            return None
        return Neighbours(read[0], read[1:], relations, cut, Provenance("graph", False, "", lag, None, question.bounds))

    def _neighbours_from_postgres(self, question: _Question, lag: Freshness, why: str) -> Neighbours:
        """The answer computed from the rows (`why`: why the graph did not give it; "": not asked)."""
        entity, key = question.entity, question.key
        with self.postgres.connection() as conn:
            row = current_row(conn, entity, key)
            if row is None:
                raise RecallError(404, f"no {entity.name} with key {key.text!r}")
            start = Node(entity.label, key.text, 0, properties(entity, row))

            def expand(frontier: Frontier, step: Step) -> tuple[list[Found], bool]:
                return self.relations.expand(conn, frontier, step)

            nodes, relations, cut = breadth_first(start, question.hops, question.step, expand, question.limit)
        not_included = self.relations.not_included(question.step.types)
        provenance = answered_by_postgres(why, lag, question.bounds, self.postgres.read_as, not_included)
        return Neighbours(start, nodes, relations, cut, provenance)

    # -- as of and changes (PostgreSQL: the bi-temporal history is kept there) ---------------------

    def as_of(
        self,
        entity: str,
        key: str,
        valid_at: str | datetime | None = None,
        known_at: str | int | datetime | None = None,
        source: str = "auto",
    ) -> AsOf:
        """The entity's row(s) for a key valid at `valid_at` (default now; entities without valid
        time: the record) as believed at `known_at` (a landing time or sequence; default now).
        `source` "auto" asks the timeline for the entities it tracks when it is in sync (its
        beliefs hold the facts it keeps of each version), PostgreSQL otherwise; "timeline" or
        "postgres" asks that store alone."""
        found = self.names.entity(entity)
        parsed = self.names.key(found, key)
        valid = inputs.valid_at(valid_at)
        known = inputs.transaction_time(known_at)
        if source not in AS_OF_SOURCES:
            raise bad_input(f"source must be one of {', '.join(AS_OF_SOURCES)}, not {source!r}")
        bounds = TimeBounds(
            valid.astimezone(UTC).isoformat() if valid else None,
            known_at=known.astimezone(UTC).isoformat() if isinstance(known, datetime) else known,
        )
        why, tracked = self._timeline_refused(found, source)
        if tracked and not why:
            try:
                return self._as_of_from_timeline(found, parsed, valid, known, bounds)
            except Exception as exc:  # any failure of a derived store: PostgreSQL answers instead
                why = f"the timeline failed ({why_failed(exc)})"
                self.timeline.drop()
                if source == "timeline":
                    raise RecallError(503, why) from None
        with self.postgres.connection() as conn:
            answer = history.as_of(conn, found, dict(zip(found.primary_key, parsed.parts, strict=True)), valid, known)
        beliefs = [asdict(b) for b in answer.rows]
        # degraded: the timeline serves this question but could not (asked of PostgreSQL: not)
        degraded = tracked and bool(why)
        provenance = Provenance(
            POSTGRES,
            degraded,
            f"{why}: answered from PostgreSQL" if degraded else why or "asked of PostgreSQL",
            self.freshness("timeline") if degraded else None,
            None,
            bounds,
            read_as=self.postgres.read_as,
        )
        return AsOf(found.name, parsed.text, beliefs, provenance)

    def _timeline_refused(self, entity: Entity, source: str) -> tuple[str, bool]:
        """Why the timeline must not answer an as-of question about the entity ("" when it may),
        and whether it serves the question at all (it tracks the entity and was not bypassed)."""
        if source == POSTGRES:
            return "the history is kept in PostgreSQL", False
        if not holds("timeline", entity):
            if source == "timeline":
                raise bad_input(f"the timeline does not track {entity.name}: ask PostgreSQL (source=postgres)")
            return f"the timeline does not track {entity.name}: the history is kept in PostgreSQL", False
        return ("" if source == "timeline" else self.timeline.backoff.refused(self.freshness("timeline"))), True

    def _as_of_from_timeline(
        self, entity: Entity, key: Key, valid: datetime | None, known: int | datetime | None, bounds: TimeBounds
    ) -> AsOf:
        moment = valid or datetime.now(UTC)
        self.timeline.use(self.freshness("timeline").generation)
        beliefs = self.timeline.as_of(entity, key.text, moment.astimezone(UTC), _utc(known))
        kept = ", ".join(entity.timeline_facts)
        provenance = Provenance(
            "timeline",
            reason=f"the timeline keeps valid_from, valid_to and {kept} of each version (PostgreSQL: whole rows)",
            freshness=self.freshness("timeline"),
            time_bounds=replace(bounds, valid_at=moment.astimezone(UTC).isoformat()),
        )
        return AsOf(entity.name, key.text, beliefs, provenance)

    def changes(
        self,
        of: str,
        since: str | int | datetime,
        until: str | int | datetime | None = None,
        key: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Changes:
        """What was added, changed and deleted between two transaction times (landing times or
        sequences) for an entity (optionally one key of it) or every entity of a hub."""
        entities = self._entities_of(of)
        start = inputs.transaction_time(since, "since")
        if start is None:
            raise bad_input("since is required: a landing time (ISO 8601) or a landing sequence")
        end = inputs.transaction_time(until, "until")
        if end is not None and isinstance(start, datetime) != isinstance(end, datetime):
            raise bad_input("since and until must both be landing times or both landing sequences")
        match = None
        if key is not None:
            if len(entities) != 1:
                raise bad_input("a key narrows the changes of one entity, not of a hub")
            parsed = self.names.key(entities[0], key)
            match = dict(zip(entities[0].primary_key, parsed.parts, strict=True))
        with self.postgres.connection() as conn:
            try:
                found = history.changes(conn, entities, start, end, key=match, limit=inputs.limit(limit))
            except ValueError as exc:  # more changes than the limit: narrow the question
                raise bad_input(str(exc)) from None
        spelled = [t.astimezone(UTC).isoformat() if isinstance(t, datetime) else t for t in (start, end)]
        provenance = Provenance(POSTGRES, reason="the change feed is kept in PostgreSQL", read_as=self.postgres.read_as)
        return Changes([e.name for e in entities], spelled[0], spelled[1], [asdict(c) for c in found], provenance)

    # -- timeline search (Graphiti's own search over the timeline's facts) -------------------------

    def timeline_search(
        self,
        query: str,
        entities: list[str] | None = None,
        valid_at: str | datetime | None = None,
        valid_from: str | datetime | None = None,
        valid_to: str | datetime | None = None,
        known_at: str | datetime | None = None,
        k: int = TIMELINE_K,
    ) -> TimelineSearch:
        """The timeline's facts (one per belief about a version) that best match `query` by
        Graphiti's hybrid search (BM25 + embeddings, fused by RRF), of the given entities (default
        all it tracks), true at `valid_at` or at some time in [valid_from, valid_to), as believed at
        `known_at` (a landing time; default now). The timeline alone keeps this search: when it is
        down that is a RecallError(503)."""
        text = query_text(query)
        window = Window(
            *(_utc(inputs.valid_at(t)) for t in (valid_at, valid_from, valid_to)),
            known_at=_utc(inputs.valid_at(known_at)),
        )
        if window.valid_at is not None and (window.valid_from or window.valid_to):
            raise bad_input("ask for facts valid at an instant (valid_at) or within a period (valid_from, valid_to)")
        if window.valid_from and window.valid_to and window.valid_from >= window.valid_to:
            raise bad_input("valid_from must be before valid_to")
        names = None
        if entities:
            tracked = [self.names.entity(e) for e in entities]
            untracked = [e.name for e in tracked if not holds("timeline", e)]
            if untracked:
                raise bad_input(f"the timeline does not track {', '.join(untracked)}")
            names = sorted({edge_name(e) for e in tracked})
        lag = self.freshness("timeline")
        try:
            self.timeline.use(lag.generation)
            hits = self.timeline.search(text, names, window, inputs.limit(k))
        except RecallError:
            raise
        except Exception as exc:
            self.timeline.drop()
            raise RecallError(503, f"the timeline failed ({why_failed(exc)}): only it keeps this search") from None
        spelled = [t.isoformat() if t else None for t in (window.valid_at, window.known_at)]
        bounds = TimeBounds(spelled[0], known_at=spelled[1])
        if window.valid_from or window.valid_to:
            bounds = replace(bounds, rule=_period_rule(window))
        reason = "" if lag.in_sync else f"the timeline is behind PostgreSQL ({lag.description})"
        return TimelineSearch(text, hits, Provenance("timeline", not lag.in_sync, reason, lag, None, bounds))

    def _entities_of(self, name: str) -> list[Entity]:
        """An entity, or every entity of a hub (its schema, e.g. hub3_origin)."""
        if name in self.catalog.schemas:
            return [e for e in self.catalog.entities if e.schema == name]
        return [self.names.entity(name)]

    # -- search ------------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        entities: list[str] | None = None,
        hubs: list[str] | None = None,
        collections: list[str] | None = None,
        time_from: str | datetime | None = None,
        time_to: str | datetime | None = None,
        status: list[str] | None = None,
        k: int = 10,
        expand: int = 0,
        mode: str = "hybrid",
    ) -> Search:
        """The k best matches of `query` among the searchable entities (those with vectors), by
        meaning (Qdrant) and by words (PostgreSQL full text) fused by reciprocal rank, narrowed by
        entity, hub, collection, status and a time range (ISO 8601, bounds included); `expand=1`
        adds each hit's one-hop neighbours. `mode` "semantic" or "keyword" asks one side alone."""
        question = search.question(
            self.names, query, entities, hubs, collections, time_from, time_to, status, k, expand, mode
        )
        return self.searcher.search(question, lambda: self.freshness("vectors"), self._hit_neighbours)

    def _hit_neighbours(self, entity: str, key: str) -> Neighbours | None:
        try:
            return self.neighbours(entity, key, hops=1, limit=search.EXPAND_LIMIT)
        except RecallError as exc:
            if exc.status == 404:  # deleted since the vectors were synced
                return None
            raise

    # -- context ---------------------------------------------------------------------------------

    def context(self, entity: str, key: str, chars: int = blocks.DEFAULT_CHARS) -> Context:
        """What the memory holds about one entity as one block of text of at most `chars`
        characters: its facts, what it is related to now, its recent changes, related documents."""
        found = self.names.entity(entity)
        cap = inputs.bounded(chars, "chars", blocks.MIN_CHARS, blocks.MAX_CHARS)
        record = self.get(found.name, key)
        near = self.neighbours(found.name, record.key, hops=1, at=datetime.now(UTC), limit=blocks.NEIGHBOURS)
        recent = self.changes(found.name, 0, key=record.key, limit=inputs.MAX_ROWS)
        sections = [
            blocks.facts(record, found),
            blocks.related(near),
            blocks.changed(recent),
            blocks.documents(near, self.catalog),
        ]
        header = f"# {found.label} {record.key} ({found.qualified_name}), as known now"
        text, held, cut = blocks.render(header, sections, cap)
        return Context(
            found.name,
            record.key,
            text,
            len(text),
            cap,
            cut,
            {s.title: {"lines": held.get(s.title, 0), "of": len(s.lines)} for s in sections},
            {s.title: s.provenance for s in sections},
        )

    # -- navigate ----------------------------------------------------------------------------------

    def navigations(self) -> list[NavigationInfo]:
        """The catalog's named paths (meta.hubs.navigations): where each starts, goes, and what
        its `at` means."""
        return self.navigator.list()

    def navigate(
        self,
        name: str,
        key: str,
        at: str | datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        source: str = "auto",
    ) -> Navigated:
        """The paths a named navigation finds from the node of `key` (its start entity's key), at
        the time `at` where the navigation takes one; served by the graph, or by PostgreSQL."""
        question = navigate.question(self.catalog, self.names, name, key, at, limit)
        if source not in SOURCES:
            raise bad_input(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
        lag = self.freshness("graph")
        return navigate.answer(self.navigator, question, source, lag, self.graph, self.postgres)

    # -- health and lifetime -----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Whether each store answers, and how far the derived ones are behind (RecallError 503
        when PostgreSQL does not answer)."""
        report: dict[str, Any] = {"postgres": {"ok": True, "read_as": ""}}
        self.lags.expire()
        for store in ("graph", "cache", "timeline"):
            report[store] = {"freshness": asdict(self.freshness(store))}
        report["postgres"]["read_as"] = self.postgres.read_as
        try:
            self.cache.client.ping()
            report["cache"]["ok"] = True
        except redis.RedisError as exc:
            report["cache"].update(ok=False, error=why_failed(exc))
        try:
            self.graph.side(self.freshness("graph").generation).dialect.read("RETURN 1", timeout_ms=self.timeout_ms)
            report["graph"]["ok"] = True
        except Exception as exc:  # reported, not raised: a derived store being down is a state
            self.graph.drop()
            report["graph"].update(ok=False, error=why_failed(exc))
        return report

    def close(self) -> None:
        self.vectors.drop()
        self.graph.drop()
        self.timeline.drop()
        self.cache.client.close()
        self.postgres.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
