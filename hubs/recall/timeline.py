"""The timeline's answers: as-of questions on Graphiti's edges and Graphiti's own search over them.

The sync writes every belief PostgreSQL holds about a tracked entity's versions as one RELATES_TO
edge (hubs/sync/timeline.py): valid_at / invalid_at are the version's valid_from / valid_to,
created_at / expired_at when it was believed (history.py's known_from / known_to), with the landing
sequences beside them. So "valid at T as known at K" is one indexed Cypher query (by the edge's
entity and key) with the same conditions history.py puts in SQL, written by the sync's own
functions: plain comparisons, right on both servers (FalkorDB keeps the times as ISO text in UTC
with no index on them, whose range scans answer '<' wrongly; Neo4j as DateTime values).

Search is graphiti-core's hybrid edge search (BM25 + cosine similarity fused by RRF: no LLM and no
cross-encoder call) with its SearchFilters for the date windows, over the same edges.

The driver is graphiti-core's (async): one event loop per connection, used under a lock, each
call bounded by the query time limit. A reader never starts the graph server.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hubs.catalog import Entity
from hubs.recall.lags import Backoff
from hubs.recall.model import TimelineHit, bad_input
from hubs.secrets import scrub
from hubs.settings import Settings
from hubs.sync.connections import timeline_driver
from hubs.sync.timeline import EARLIEST, group_of, iso_text, known_at, state_name, valid_at

log = logging.getLogger(__name__)
MAX_QUERY_CHARS = 1000  # a question, not a document: longer ones are refused (400)


def edge_name(entity: Entity) -> str:
    """The name of an entity's timeline edges (a projected type such as DROVE, or <ENTITY>_STATE)."""
    return entity.projection.type if entity.projection is not None else state_name(entity)


def query_text(value: Any) -> str:
    """A search's text, checked: it travels as a parameter (BM25's and the embedder's input)."""
    if not isinstance(value, str) or not value.strip():
        raise bad_input("the query must be a non-empty string")
    if len(value) > MAX_QUERY_CHARS:
        raise bad_input(f"the query is longer than {MAX_QUERY_CHARS} characters")
    return value.replace("\x00", "")


def _instant(value: Any) -> datetime | None:
    text = iso_text(value)
    return datetime.fromisoformat(text) if text is not None else None


def _spelled(value: datetime) -> str:
    return value.isoformat()  # the caller's instants are UTC already (inputs.py)


@dataclass(frozen=True)
class Window:
    """Which facts a search may return: valid at an instant, or valid at some time within
    [valid_from, valid_to); believed at `known_at` (None: believed now). Instants in UTC."""

    valid_at: datetime | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    known_at: datetime | None = None


def search_filters(window: Window, names: list[str] | None) -> Any:
    """graphiti-core's SearchFilters for a window. Its parameters are named by a filter's place
    in its AND group only (valid_at_0, ...): two OR groups each with a date would overwrite each
    other's, so every dated filter here sits in the first group."""
    from graphiti_core.search.search_filters import ComparisonOperator as Op
    from graphiti_core.search.search_filters import DateFilter, SearchFilters

    def on(moment: datetime, op: Op) -> DateFilter:
        return DateFilter(date=moment, comparison_operator=op)

    null = DateFilter(comparison_operator=Op.is_null)
    valid: list[DateFilter] = []
    ends: datetime | None = None  # invalid_at must be after this (or open)
    if window.valid_at is not None:
        valid.append(on(window.valid_at, Op.less_than_equal))
        ends = window.valid_at
    if window.valid_to is not None:
        valid.append(on(window.valid_to, Op.less_than))
    if window.valid_from is not None:
        ends = max(ends, window.valid_from) if ends else window.valid_from
    known = window.known_at
    return SearchFilters(
        edge_types=names,
        valid_at=[valid] if valid else None,
        invalid_at=[[on(ends, Op.greater_than)], [null]] if ends else None,
        created_at=[[on(known, Op.less_than_equal)]] if known else None,
        expired_at=[[on(known, Op.greater_than)], [null]] if known else [[null]],
    )


class TimelineConnection:
    """The timeline's graph, connected on first use. After a failure it is left alone for a
    moment (lags.Backoff)."""

    def __init__(self, settings: Settings, timeout_ms: int) -> None:
        self.settings = settings
        self.timeout_ms = timeout_ms
        self._driver: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._embedder: Any = None
        self.backoff = Backoff("timeline")
        self._lock = threading.Lock()
        self.generation = 0  # the timeline's published one, which questions read (use)

    @property
    def group(self) -> str:
        return group_of(self.generation)

    def use(self, generation: int) -> None:
        """Read the timeline's `generation` (the published one, as the freshness figures read it)
        from the next question on: a publish or a rollback since moves the connection."""
        with self._lock:
            moved = generation != self.generation
            self.generation = generation
            driver, loop = (self._driver, self._loop) if moved else (None, None)
            if moved:
                self._driver = self._loop = None
        _close(driver, loop)

    def _run(self, make: Any) -> Any:
        """Run the coroutine `make(driver)` returns on the connection's loop, within the time limit."""
        with self._lock:
            if self._driver is None:
                self._loop = asyncio.new_event_loop()
                try:
                    self._driver = timeline_driver(self.settings, start=False, generation=self.generation)
                except Exception:
                    self._loop.close()
                    self._loop = None
                    self.backoff.failed()
                    raise
            coroutine: Coroutine[Any, Any, Any] = make(self._driver)
            return self._loop.run_until_complete(asyncio.wait_for(coroutine, self.timeout_ms / 1000))

    def rows(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        result = self._run(lambda driver: driver.execute_query(cypher, **params))
        return [dict(r) for r in result[0]] if result else []

    @property
    def provider(self) -> Any:
        self._run(lambda driver: asyncio.sleep(0))  # connected
        return self._driver.provider

    def as_of(self, entity: Entity, key: str, valid: datetime, known: int | datetime | None) -> list[dict[str, Any]]:
        """The beliefs about `key`'s versions valid at `valid` as believed at `known` (a landing time
        or sequence; None: now), shaped as history.as_of's (row: valid_from, valid_to and the facts
        the timeline keeps), ordered by valid_from."""
        provider = self.provider
        facts = "".join(f", e.fact_{f} AS {f}" for f in entity.timeline_facts)
        believed = known_at(provider, "e", "$known" if known is not None else None, by_sequence=isinstance(known, int))
        found = self.rows(
            "MATCH ()-[e:RELATES_TO]->() WHERE e.entity_key = $key AND e.group_id = $group AND e.entity = $entity "
            f"AND {valid_at(provider, 'e', '$valid')} AND {believed} "
            "RETURN e.valid_at AS valid_from, e.invalid_at AS valid_to, e.created_at AS created_at, "
            f"e.expired_at AS expired_at, e.known_from_seq AS known_from_seq, e.known_to_seq AS known_to_seq{facts}",
            key=key,
            group=self.group,
            entity=entity.model,
            valid=_spelled(valid),
            known=_spelled(known) if isinstance(known, datetime) else known,
        )
        beliefs = [self._belief(entity, r) for r in found]
        return sorted(beliefs, key=lambda b: b["row"]["valid_from"])

    @staticmethod
    def _belief(entity: Entity, found: dict[str, Any]) -> dict[str, Any]:
        began = _instant(found["created_at"])
        row = {"valid_from": _instant(found["valid_from"]), "valid_to": _instant(found["valid_to"])}
        row.update({f: found.get(f) for f in entity.timeline_facts})
        return {
            "row": row,
            "known_from_seq": found["known_from_seq"],
            "known_from": None if began == EARLIEST else began,  # history.py's NULL: before recording
            "known_to_seq": found["known_to_seq"],
            "known_to": _instant(found["expired_at"]),
        }

    def search(self, query: str, names: list[str] | None, window: Window, k: int) -> list[TimelineHit]:
        """graphiti-core's hybrid search (BM25 + cosine, RRF) over the timeline's edges within
        `window`, of the named edges only (None: all), best first, at most k."""
        from graphiti_core.search.search import search
        from graphiti_core.search.search_config_recipes import EDGE_HYBRID_SEARCH_RRF

        config = EDGE_HYBRID_SEARCH_RRF.model_copy(deep=True)
        config.limit = k
        filters = search_filters(window, names)
        results = self._run(lambda driver: search(self._clients(driver), query, [self.group], config, filters))
        scores = list(results.edge_reranker_scores) + [None] * len(results.edges)
        return [_hit(edge, score) for edge, score in zip(results.edges, scores, strict=False)]

    def _clients(self, driver: Any) -> Any:
        """graphiti-core's clients for search: our embedder; an LLM and a cross-encoder it needs
        to be given but never calls with RRF (pointed nowhere, so a call would fail, not leak)."""
        from graphiti_core.cross_encoder.openai_reranker_client import OpenAIRerankerClient
        from graphiti_core.graphiti_types import GraphitiClients
        from graphiti_core.llm_client.config import LLMConfig
        from graphiti_core.llm_client.openai_client import OpenAIClient
        from graphiti_core.tracer import NoOpTracer

        from hubs.embeddings import embedder_from_env, graphiti_embedder

        if self._embedder is None:
            self._embedder = graphiti_embedder(embedder_from_env())
        nowhere = LLMConfig(api_key="unused", base_url="http://127.0.0.1:9/v1")
        return GraphitiClients(
            driver=driver,
            llm_client=OpenAIClient(config=nowhere),
            embedder=self._embedder,
            cross_encoder=OpenAIRerankerClient(config=nowhere),
            tracer=NoOpTracer(),
        )

    def drop(self) -> None:
        with self._lock:
            driver, loop = self._driver, self._loop
            self._driver = self._loop = None
            self.backoff.failed()
        _close(driver, loop)


def _close(driver: Any, loop: asyncio.AbstractEventLoop | None) -> None:
    if driver is not None and loop is not None:
        try:
            loop.run_until_complete(driver.close())
        except Exception as exc:  # closing a lost connection may fail too; nothing to keep
            log.debug("closing the timeline connection: %s: %s", type(exc).__name__, scrub(str(exc)))
        finally:
            loop.close()


def _hit(edge: Any, score: float | None) -> TimelineHit:
    attributes = edge.attributes or {}
    return TimelineHit(
        uuid=edge.uuid,
        fact=edge.fact,
        name=edge.name,
        entity=str(attributes.get("entity", "")),
        key=str(attributes.get("entity_key", "")),
        valid_at=iso_text(edge.valid_at),
        invalid_at=iso_text(edge.invalid_at),
        created_at=iso_text(edge.created_at),
        expired_at=iso_text(edge.expired_at),
        score=score,
    )
