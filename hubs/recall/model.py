"""What Recall answers: typed results that say which store answered and how fresh it was.

Every answer carries a Provenance. A derived store that is down or behind PostgreSQL does not
fail a question: PostgreSQL answers it and the provenance says so (`degraded`, `reason`). Only
bad input, an unknown key or PostgreSQL itself being unreachable is an error (RecallError, with
the HTTP status the web interface answers with).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from hubs.freshness import StoreLag
from hubs.secrets import scrub

POSTGRES = "postgres"
STORES = (POSTGRES, "cache", "graph", "vectors", "timeline")


class RecallError(Exception):
    """A question Recall cannot answer, with the HTTP status that says why: 400 bad input, 404 no
    such key, 503 PostgreSQL unreachable, 504 the query took longer than its time limit."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.message}


def bad_input(message: str) -> RecallError:
    return RecallError(400, message)


def why_failed(exc: BaseException) -> str:
    """A failure in a line for a provenance or a log: its type and first line, secrets masked."""
    text = scrub(str(exc).strip())
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


@dataclass(frozen=True)
class Freshness:
    """How far a derived store's watermarks are behind PostgreSQL (hubs/freshness.py's figures,
    the ones `hubs status` prints), and when they were read."""

    store: str
    in_sync: bool
    changed: int  # rows and versions changed in PostgreSQL since the store's last sync
    deleted: int  # deletes applied in PostgreSQL since
    entities_behind: int
    last_sync: str | None  # ISO 8601 UTC; None: never synced
    measured_at: str  # ISO 8601 UTC: when these figures were read
    description: str
    generation: int = 0  # the store's published generation the figures are of (the one to read)

    @classmethod
    def of(cls, lag: StoreLag, measured_at: datetime) -> Freshness:
        return cls(
            store=lag.kind,
            in_sync=lag.last_sync is not None and not lag.changed and not lag.deleted,
            changed=lag.changed,
            deleted=lag.deleted,
            entities_behind=lag.entities_behind,
            last_sync=lag.last_sync.astimezone(UTC).isoformat() if lag.last_sync else None,
            measured_at=measured_at.astimezone(UTC).isoformat(),
            description=lag.describe(),
            generation=lag.generation,
        )


@dataclass(frozen=True)
class TimeBounds:
    """The time a question was asked at, and the rule an interval had to meet to count."""

    valid_at: str | None  # ISO 8601 UTC; None: the question had no valid time (current)
    rule: str = "valid_from <= valid_at and (valid_to is null or valid_to > valid_at)"
    #: transaction time: as believed at this landing time (ISO 8601) or landing sequence; None: now
    known_at: str | int | None = None


@dataclass(frozen=True)
class Provenance:
    store: str  # which store answered: postgres | cache | graph | vectors | timeline
    degraded: bool = False  # the store that serves this question could not, PostgreSQL answered
    reason: str = ""  # why it is degraded, or why PostgreSQL answered instead of a store
    freshness: Freshness | None = None  # the answering (or bypassed) store's lag behind PostgreSQL
    ttl_left_ms: int | None = None  # cache: how long the key lives on
    time_bounds: TimeBounds | None = None  # when a time was given
    #: a PostgreSQL answer to a graph question: relationship types (with their form) it cannot include
    not_included: tuple[str, ...] = ()
    read_as: str = ""  # how PostgreSQL was read (the role, read-only transactions)


@dataclass(frozen=True)
class Record:
    """The current row of an entity: its facts (NULLs left out, as every store keeps them)."""

    entity: str  # the entity's name (tractor)
    label: str  # its graph label (Tractor)
    key: str  # its key, composite keys joined as everywhere (hubs/sync/records.py)
    values: dict[str, Any]
    provenance: Provenance

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, order=True)
class NodeRef:
    label: str
    key: str


@dataclass(frozen=True)
class Node:
    label: str
    key: str
    hops: int  # distance from the node asked about (0: that node)
    properties: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def ref(self) -> NodeRef:
        return NodeRef(self.label, self.key)


@dataclass(frozen=True)
class Relation:
    """One relationship: its type, its ends, its properties and the row that makes it (the
    `_owner` stamp of the replica, "<Label>:<key>")."""

    type: str
    start: NodeRef
    end: NodeRef
    properties: dict[str, Any]
    owner: str

    def identity(self) -> tuple[Any, ...]:
        return (self.type, self.start, self.end, self.owner, json.dumps(self.properties, sort_keys=True, default=str))


@dataclass(frozen=True)
class Neighbours:
    start: Node
    nodes: list[Node]  # every node reached, nearest first (the start not included)
    relationships: list[Relation]
    truncated: bool  # more were found than the limit: ask with filters or fewer hops
    provenance: Provenance

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AsOf:
    """An entity's rows valid at one time as believed at another (hubs/recall/history.py), each
    with the transaction-time bounds it was believed within."""

    entity: str
    key: str
    beliefs: list[dict[str, Any]]  # {row, known_from_seq, known_from, known_to_seq, known_to}
    provenance: Provenance

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Changes:
    """What was added, changed (before/after of the changed columns) and deleted between two
    transaction times, ordered by the landed row that made each change."""

    entities: list[str]
    since: str | int
    until: str | int | None
    changes: list[dict[str, Any]]  # {entity, key, kind, before, after, seq, at}
    provenance: Provenance

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Context:
    """One block of text about an entity for an LLM prompt (hubs/recall/context.py), at most
    `cap` characters, with what each section holds and where it was read from."""

    entity: str
    key: str
    text: str
    chars: int
    cap: int
    truncated: bool  # a section left something out to stay within the cap
    sections: dict[str, dict[str, int]]  # title -> {"lines": held, "of": the section's lines}
    provenance: dict[str, Provenance]  # title -> the answer the section was written from

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SemanticMatch:
    rank: int  # 1 = nearest among the semantic candidates
    score: float  # cosine similarity of the query and the text


@dataclass(frozen=True)
class KeywordMatch:
    rank: int  # 1 = best among the keyword candidates
    score: float  # PostgreSQL's ts_rank_cd
    terms: tuple[str, ...]  # the query's lexemes (stemmed words) the text holds


@dataclass(frozen=True)
class Expansion:
    """A hit's one-hop neighbours (Memory.neighbours), nodes without their properties."""

    nodes: list[Node]
    relationships: list[Relation]
    truncated: bool
    store: str  # graph | postgres
    degraded: bool


@dataclass(frozen=True)
class SearchHit:
    entity: str
    key: str
    label: str
    score: float  # the fused score: sum of 1 / (60 + rank) over the rankings it is in
    semantic: SemanticMatch | None  # why it matched by meaning (None: not among the semantic candidates)
    keyword: KeywordMatch | None  # why it matched by words (None: not among the keyword candidates)
    expansion: Expansion | None = None


@dataclass(frozen=True)
class Search:
    query: str
    mode: str  # hybrid | semantic | keyword (as asked; the provenance says what answered)
    entities: list[str]  # the entities searched (after the filters)
    hits: list[SearchHit]
    provenance: Provenance

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TimelineHit:
    """One of the timeline's facts found by Graphiti's search: the edge, what it says, whose
    version it is, when it held (valid_at/invalid_at) and when it was believed (created_at /
    expired_at), all ISO 8601 UTC; the RRF score it ranked by."""

    uuid: str
    fact: str
    name: str  # the edge's name: <ENTITY>_STATE, or the projected type (DROVE)
    entity: str  # the entity's model (driver_assignments)
    key: str
    valid_at: str | None
    invalid_at: str | None
    created_at: str | None
    expired_at: str | None
    score: float | None


@dataclass(frozen=True)
class TimelineSearch:
    """Graphiti's hybrid search over the timeline's facts within a time window."""

    query: str
    hits: list[TimelineHit]
    provenance: Provenance

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Hop:
    """One step of a navigated path: the relationship crossed and the node it reached."""

    relationship: Relation
    node: Node  # hops: the step's number (1 the first)


@dataclass(frozen=True)
class Navigated:
    """The paths a named navigation (meta.hubs.navigations) found from one node, each a list of
    hops, ordered by the keys along the path."""

    navigation: str
    start: Node
    paths: list[list[Hop]]
    truncated: bool  # more paths than the limit
    provenance: Provenance

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NavigationInfo:
    """What a navigation asks for and where it goes (for discovery: `GET /navigate`)."""

    name: str
    description: str
    entity: str  # the start's entity name
    key: list[str]  # the start's key columns (joined by '|')
    path: list[list[str]]  # relationship types of each step
    reaches: list[list[str]]  # labels each step can reach
    at: str  # what the `at` parameter is ("" = none taken)
    time_rule: str  # how times filter the paths ("" = not at all)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def answered_by_postgres(
    why: str,
    freshness: Freshness | None,
    bounds: TimeBounds | None,
    read_as: str,
    not_included: tuple[str, ...] = (),
) -> Provenance:
    """PostgreSQL's answer to a question a derived store serves: degraded when `why` says why
    that store did not answer ("": PostgreSQL was asked by name)."""
    return Provenance(
        POSTGRES,
        degraded=bool(why),
        reason=f"{why}: answered from PostgreSQL" if why else "asked of PostgreSQL",
        freshness=freshness,
        time_bounds=bounds,
        not_included=not_included,
        read_as=read_as,
    )
