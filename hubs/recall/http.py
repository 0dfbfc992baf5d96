"""Recall over HTTP: a FastAPI app over Memory (OpenAPI docs at /docs), started by `hubs serve`.

    GET /entities/{entity}/{key}                  the current record
    GET /entities/{entity}/{key}/neighbours       ?hops=&type=&label=&direction=&at=&limit=
    GET /entities/{entity}/{key}/context          ?chars= (one block of text for a prompt)
    GET /search                   ?q=&entity=&hub=&collection=&time_from=&time_to=&status=&k=&expand=&mode=
    GET /navigate                                 the named navigations and their parameters
    GET /navigate/{name}/{key}                    ?at=&limit=
    GET /health                                   each store: answering, and how far behind

A RecallError is answered with its status and `{"status": ..., "error": "..."}`; anything else
with a 500 that says nothing of the failure but that it was logged (secrets are scrubbed from
the log, hubs/secrets.py). A bearer token (HUBS_API_TOKEN) is required whenever one is given,
and `hubs serve` will not listen beyond loopback without one (token_for).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic_core import to_json

from hubs.recall.context import DEFAULT_CHARS, MAX_CHARS, MIN_CHARS
from hubs.recall.inputs import DEFAULT_LIMIT, DIRECTIONS, MAX_HOPS, MAX_ROWS
from hubs.recall.memory import TIMELINE_K, Memory, settle
from hubs.recall.model import RecallError
from hubs.recall.search import MAX_K, MODES
from hubs.recall.tokens import UNAUTHORIZED, authorized
from hubs.secrets import scrub

log = logging.getLogger(__name__)


class Answer(Response):
    """An answer encoded straight from Memory's dataclasses by pydantic-core: the JSON FastAPI
    makes of their dicts (ISO 8601 datetimes, Decimals as strings), without its Python passes
    over every value to validate the response. With them HTTP added 12.8 ms at p99 to a two-hop
    neighbours question, 3.8 ms without (benchmarks/recall.py --scale 1, before and after)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return to_json(content)


def _error(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"status": status, "error": message}, status_code=status, headers=headers)


def create_app(memory: Memory | None = None, token: str | None = None) -> FastAPI:
    """The app over `memory` (opened from the settings at startup and closed at shutdown when
    not given), requiring `token` as a bearer token when given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = memory is None
        app.state.memory = memory or Memory()
        if own:
            settle()
        try:
            yield
        finally:
            if own:
                app.state.memory.close()

    async def bearer(request: Request) -> None:
        if token is None:
            return
        if not authorized(request.headers.get("authorization", ""), token):
            raise RecallError(401, UNAUTHORIZED)

    app = FastAPI(
        title="hubs recall",
        # every route of the API (the OpenAPI document and /docs stay readable without it)
        dependencies=[Depends(bearer)],
        description="One read API over the hubs: PostgreSQL, the cache and the graph. Every answer says which "
        "store gave it and how fresh that store is.",
        lifespan=lifespan,
    )
    if memory is not None:
        app.state.memory = memory

    @app.exception_handler(RecallError)
    async def recall_error(request: Request, exc: RecallError) -> JSONResponse:
        return _error(exc.status, scrub(exc.message))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return _error(400, scrub(problems))

    @app.exception_handler(Exception)
    async def failure(request: Request, exc: Exception) -> JSONResponse:
        log.error("recall: %s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, scrub(str(exc)))
        return _error(500, "the question failed on the server (logged there)")

    def mind(request: Request) -> Memory:
        return request.app.state.memory

    @app.get("/health", summary="Whether each store answers, and how far the derived ones are behind")
    def health(request: Request) -> Answer:
        return Answer(mind(request).health())

    @app.get("/entities/{entity}/{key:path}/neighbours", summary="Typed expansion from a node")
    def neighbours(
        request: Request,
        entity: str,
        key: str,
        hops: Annotated[int, Query(description=f"1 to {MAX_HOPS}")] = 1,
        type: Annotated[list[str] | None, Query(description="relationship types (repeat for several)")] = None,
        label: Annotated[list[str] | None, Query(description="labels the nodes reached may have")] = None,
        direction: Annotated[str, Query(description=" | ".join(DIRECTIONS))] = "both",
        at: Annotated[str | None, Query(description="ISO 8601: interval relationships valid then")] = None,
        limit: Annotated[int, Query(description=f"nodes and relationships, at most {MAX_ROWS}")] = DEFAULT_LIMIT,
    ) -> Answer:
        return Answer(mind(request).neighbours(entity, key, hops, type, label, direction, at, limit))

    @app.get("/entities/{entity}/{key:path}/as-of", summary="A record valid at one time, as believed at another")
    def as_of(
        request: Request,
        entity: str,
        key: str,
        valid_at: Annotated[str | None, Query(description="ISO 8601 (default now)")] = None,
        known_at: Annotated[str | None, Query(description="a landing time (ISO 8601) or sequence (now)")] = None,
        source: Annotated[str, Query(description="auto | timeline | postgres")] = "auto",
    ) -> Answer:
        return Answer(mind(request).as_of(entity, key, valid_at, known_at, source))

    @app.get("/timeline/search", summary="Graphiti's hybrid search over the timeline's facts, date-filtered")
    def timeline_search(
        request: Request,
        q: Annotated[str, Query(description="what to look for")],
        entity: Annotated[list[str] | None, Query(description="only facts of these entities")] = None,
        valid_at: Annotated[str | None, Query(description="ISO 8601: facts true then")] = None,
        valid_from: Annotated[str | None, Query(description="ISO 8601: facts true at some time from then")] = None,
        valid_to: Annotated[str | None, Query(description="ISO 8601: ... until then (exclusive)")] = None,
        known_at: Annotated[str | None, Query(description="a landing time (ISO 8601): as believed then")] = None,
        k: Annotated[int, Query(description=f"hits, at most {MAX_ROWS}")] = TIMELINE_K,
    ) -> Answer:
        return Answer(mind(request).timeline_search(q, entity, valid_at, valid_from, valid_to, known_at, k))

    @app.get("/changes/{of}", summary="What was added, changed and deleted between two landing times")
    def changes(
        request: Request,
        of: str,
        since: Annotated[str, Query(description="a landing time (ISO 8601) or sequence, exclusive")],
        until: Annotated[str | None, Query(description="a landing time or sequence, inclusive (default now)")] = None,
        key: Annotated[str | None, Query(description="one key of the entity")] = None,
        limit: Annotated[int, Query(description=f"changes, at most {MAX_ROWS}")] = DEFAULT_LIMIT,
    ) -> Answer:
        return Answer(mind(request).changes(of, since, until, key, limit))

    @app.get("/entities/{entity}/{key:path}/context", summary="One capped block of text about an entity for a prompt")
    def context(
        request: Request,
        entity: str,
        key: str,
        chars: Annotated[int, Query(description=f"at most this many characters ({MIN_CHARS} to {MAX_CHARS})")] = (
            DEFAULT_CHARS
        ),
    ) -> Answer:
        return Answer(mind(request).context(entity, key, chars))

    @app.get("/search", summary="Hybrid search (meaning and words, fused by RRF), each hit with why it matched")
    def search(
        request: Request,
        q: Annotated[str, Query(description="what to look for")],
        entity: Annotated[list[str] | None, Query(description="searchable entities (repeat for several)")] = None,
        hub: Annotated[list[str] | None, Query(description="hubs (schemas), e.g. hub3_origin")] = None,
        collection: Annotated[list[str] | None, Query(description="documents | knowledge_items | insights")] = None,
        time_from: Annotated[str | None, Query(description="ISO 8601: rows whose time is at or after")] = None,
        time_to: Annotated[str | None, Query(description="ISO 8601: rows whose time is at or before")] = None,
        status: Annotated[list[str] | None, Query(description="statuses (repeat for several)")] = None,
        k: Annotated[int, Query(description=f"hits, at most {MAX_K}")] = 10,
        expand: Annotated[int, Query(description="1: each hit's one-hop neighbours")] = 0,
        mode: Annotated[str, Query(description=" | ".join(MODES))] = "hybrid",
    ) -> Answer:
        memory = mind(request)
        return Answer(memory.search(q, entity, hub, collection, time_from, time_to, status, k, expand, mode))

    @app.get("/navigate", summary="The named navigations: where each starts and goes, and what `at` means")
    def navigations(request: Request) -> Answer:
        return Answer(mind(request).navigations())

    @app.get("/navigate/{name}/{key:path}", summary="The paths a named navigation finds from a node")
    def navigate(
        request: Request,
        name: str,
        key: str,
        at: Annotated[str | None, Query(description="ISO 8601 time or date, for navigations that take one")] = None,
        limit: Annotated[int, Query(description=f"paths, at most {MAX_ROWS}")] = DEFAULT_LIMIT,
    ) -> Answer:
        return Answer(mind(request).navigate(name, key, at, limit))

    @app.get("/entities/{entity}/{key:path}", summary="The current record of an entity by key")
    def get(
        request: Request,
        entity: str,
        key: str,
        column: Annotated[list[str] | None, Query(description="only these columns")] = None,
    ) -> Answer:
        return Answer(mind(request).get(entity, key, column))

    return app
