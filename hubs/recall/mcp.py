"""MCP: the memory's read operations as Model Context Protocol tools, so an assistant can be
pointed at it (`hubs mcp`: stdio by default, or streamable HTTP, behind the same bearer token
rule as `hubs serve`).

Each tool is one Memory operation under its own name (get, as_of, changes, neighbours, search,
navigate, context), read-only
and idempotent; its answer is the same JSON the HTTP API gives, provenance included. A question
Recall refuses (an unknown entity, a malformed key or time) is a tool error with Recall's message,
secrets masked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hubs.recall.context import DEFAULT_CHARS
from hubs.recall.inputs import DEFAULT_LIMIT
from hubs.recall.memory import TIMELINE_K, Memory, settle
from hubs.recall.model import RecallError
from hubs.recall.tokens import UNAUTHORIZED, authorized
from hubs.secrets import scrub

READ_ONLY = ToolAnnotations(readOnlyHint=True, idempotentHint=True, destructiveHint=False, openWorldHint=False)
INSTRUCTIONS = (
    "The memory of a group of US trucking companies: six hubs (command, OpenHaul loads and carriers, "
    "Origin tractors/drivers/fuel, contacts, finance, corporate compliance) in PostgreSQL, with a graph, "
    "a cache and a timeline derived from them. Entities are named by name, model, label or "
    "schema.table (tractor, tractors, Tractor, hub3_origin.tractors); composite keys join their parts "
    "with '|'. Every answer carries its provenance: which store answered and how fresh it is."
)


class _Opened:
    """The Memory the tools share, opened at the first question and closed with the server."""

    def __init__(self, factory: Callable[[], Memory]) -> None:
        self.factory = factory
        self.memory: Memory | None = None

    def __call__(self) -> Memory:
        if self.memory is None:
            self.memory = self.factory()
            settle()
        return self.memory

    def close(self) -> None:
        if self.memory is not None:
            self.memory.close()
            self.memory = None


def _answer(ask: Callable[[], Any]) -> dict[str, Any]:
    try:
        return ask().to_dict()
    except RecallError as exc:
        raise ToolError(f"{exc.status}: {scrub(exc.message)}") from None


def create_server(factory: Callable[[], Memory] = Memory) -> MCPServer:
    """The MCP server over a Memory made by `factory` (at the first tool call)."""
    opened = _Opened(factory)

    @asynccontextmanager
    async def lifespan(server: MCPServer) -> AsyncIterator[None]:
        try:
            yield None
        finally:
            opened.close()

    server = MCPServer("hubs", instructions=INSTRUCTIONS, lifespan=lifespan)

    @server.tool(annotations=READ_ONLY)
    def get(entity: str, key: str, columns: list[str] | None = None) -> dict[str, Any]:
        """The current record of an entity by key (served by the cache when it holds the entity)."""
        return _answer(lambda: opened().get(entity, key, columns))

    @server.tool(annotations=READ_ONLY)
    def as_of(
        entity: str, key: str, valid_at: str | None = None, known_at: str | None = None, source: str = "auto"
    ) -> dict[str, Any]:
        """The record valid at `valid_at` (ISO 8601; default now) as it was believed at `known_at`
        (a landing time in ISO 8601 or a landing sequence; default now), with when each belief
        was held. `source`: auto, timeline or postgres."""
        return _answer(lambda: opened().as_of(entity, key, valid_at, known_at, source))

    @server.tool(annotations=READ_ONLY)
    def timeline_search(
        query: str,
        entities: list[str] | None = None,
        valid_at: str | None = None,
        valid_from: str | None = None,
        valid_to: str | None = None,
        known_at: str | None = None,
        k: int = TIMELINE_K,
    ) -> dict[str, Any]:
        """The timeline's facts (one per version of a tracked entity, as believed over time) that
        best match `query` (Graphiti's hybrid search), true at `valid_at` or at some time in
        [`valid_from`, `valid_to`), as believed at `known_at` (a landing time; default now)."""
        return _answer(lambda: opened().timeline_search(query, entities, valid_at, valid_from, valid_to, known_at, k))

    @server.tool(annotations=READ_ONLY)
    def changes(
        of: str, since: str, until: str | None = None, key: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> dict[str, Any]:
        """What was added, changed (before/after of the changed columns) and deleted between two
        landing times or sequences (`since` exclusive, `until` inclusive), for an entity (one key
        of it) or a whole hub (hub1_command ... hub6_corporate)."""
        return _answer(lambda: opened().changes(of, since, until, key, limit))

    @server.tool(annotations=READ_ONLY)
    def neighbours(
        entity: str,
        key: str,
        hops: int = 1,
        types: list[str] | None = None,
        labels: list[str] | None = None,
        direction: str = "both",
        at: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        """Nodes within `hops` (1-3) of an entity's node over the given relationship types (default
        all) to nodes of the given labels (default any); relationships with an interval count only
        when valid at `at` (ISO 8601)."""
        return _answer(lambda: opened().neighbours(entity, key, hops, types, labels, direction, at, limit))

    @server.tool(annotations=READ_ONLY)
    def search(
        query: str,
        entities: list[str] | None = None,
        hubs: list[str] | None = None,
        collections: list[str] | None = None,
        time_from: str | None = None,
        time_to: str | None = None,
        status: list[str] | None = None,
        k: int = 10,
        expand: int = 0,
        mode: str = "hybrid",
    ) -> dict[str, Any]:
        """Documents, notes, decisions, tasks, inspections, repair orders, rate confirmations and
        filings matching `query` by meaning and by words (fused; mode "semantic" or "keyword" for
        one side), narrowed by entity, hub, collection, status and a time range (ISO 8601); each
        hit says why it matched; expand=1 adds its one-hop neighbours."""
        return _answer(
            lambda: opened().search(query, entities, hubs, collections, time_from, time_to, status, k, expand, mode)
        )

    @server.tool(annotations=READ_ONLY)
    def context(entity: str, key: str, chars: int = DEFAULT_CHARS) -> dict[str, Any]:
        """What the memory holds about one entity as one block of text of at most `chars`
        characters (its facts, what it is related to now, its recent changes, related documents):
        the `text` field is meant to go into a prompt as it is."""
        return _answer(lambda: opened().context(entity, key, chars))

    @server.tool(annotations=READ_ONLY)
    def navigate(name: str = "", key: str = "", at: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """A named path across the hubs from one node (load -> carrier -> vetting at pickup, trip
        -> load -> customer, company -> owners at a time, driver -> ELD events on a day, unit ->
        fuel, inspections, repairs, ...). Without a name: the list of navigations, with the
        entity whose key each starts from and what `at` means for it."""
        if not name:
            return {"navigations": [n.to_dict() for n in opened().navigations()]}
        return _answer(lambda: opened().navigate(name, key, at, limit))

    return server


def http_app(server: MCPServer, token: str | None, host: str = "127.0.0.1") -> ASGIApp:
    """The server's streamable HTTP app (at /mcp), asking for `token` as a bearer token when given."""
    app = server.streamable_http_app(host=host)
    if token is None:
        return app

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not authorized(Headers(scope=scope).get("authorization", ""), token):
            refusal = JSONResponse({"status": 401, "error": UNAUTHORIZED}, 401, {"WWW-Authenticate": "Bearer"})
            await refusal(scope, receive, send)
            return
        await app(scope, receive, send)

    return guarded


def main() -> None:
    """`python -m hubs.recall.mcp`: the server on stdio (what an assistant launches)."""
    create_server().run("stdio")


if __name__ == "__main__":
    main()
