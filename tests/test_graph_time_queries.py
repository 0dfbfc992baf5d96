"""Time questions asked the plain way, as a user or Graphiti's own search asks them, answer what
PostgreSQL answers: on the replica (`n.pickup_at <= $t`), on the timeline (`e.valid_at <= $t AND
(e.invalid_at IS NULL OR e.invalid_at > $t)`), through graphiti-core's date-filtered search, on
FalkorDB and on Neo4j, and on FalkorDB again after its server restarted from its own files."""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from graphiti_core.cross_encoder.openai_reranker_client import OpenAIRerankerClient
from graphiti_core.graphiti_types import GraphitiClients
from graphiti_core.llm_client.config import LLMConfig
from graphiti_core.llm_client.openai_client import OpenAIClient
from graphiti_core.search.search import search
from graphiti_core.search.search_config_recipes import EDGE_HYBRID_SEARCH_RRF
from graphiti_core.search.search_filters import ComparisonOperator, DateFilter, SearchFilters
from graphiti_core.tracer import NoOpTracer
from psycopg2 import sql

from hubs import settings as hubs_settings
from hubs.checks.temporal import AsOf
from hubs.embeddings import graphiti_embedder
from hubs.servers.redis import GraphServer
from hubs.sync import feed
from hubs.sync.feed import history_table, hub_table
from hubs.sync.records import key_of, normalize
from hubs.sync.timeline import GROUP, TimelineStore, edge_uuid, node_uuid
from tests.conftest import STORES_TEMPLATE_DB, StoreBench, free_port, module_bench, private_database
from tests.test_temporal_checks import GRAPH_ENTITIES, T_CHECKS, TIMELINE_ENTITIES

# Time properties of the replica, both kinds (timestamptz, date), an open-ended one among them.
TIME_PROPERTIES = [
    ("loads", "pickup_at"),
    ("loads", "valid_from"),
    ("drivers", "cdl_expires_on"),
    ("driver_assignments", "valid_to"),
]
OPERATORS = ["<", "<=", ">", ">="]
VERSIONED = ["drivers", "tractors", "driver_assignments"]
# What a user asks of a timeline edge: held at $t (valid_at inclusive, invalid_at exclusive), as
# believed now (not expired: a superseded belief stays, expired when it was corrected).
AS_OF = (
    "e.group_id = $group AND e.name = $name AND e.valid_at <= $t AND (e.invalid_at IS NULL OR e.invalid_at > $t)"
    " AND e.expired_at IS NULL"
)


@pytest.fixture(scope="module", params=["falkordb", "neo4j"])
def synced(
    request: pytest.FixtureRequest, postgres_server: str, stores_template: str, hubs_home: Path
) -> Iterator[StoreBench]:
    with module_bench(request, postgres_server, "tq") as bench:
        bench.holding_only("graph", ["drivers", "tractors", "driver_assignments", "loads"])
        bench.holding_only("timeline", VERSIONED)
        yield bench


# -- PostgreSQL's answers --------------------------------------------------------------------------


def rows(bench: StoreBench, query: sql.Composable, params: tuple = ()) -> list[dict[str, Any]]:
    with bench.conn.cursor() as cur:
        cur.execute(query, params)
        names = [d.name for d in cur.description]
        found = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    bench.conn.commit()
    return found


def instants(bench: StoreBench, model: str, column: str) -> list[Any]:
    """Values of a column at a few quantiles (existing values: `<` and `<=` differ there)."""
    query = sql.SQL("select percentile_disc(%s::float8[]) within group (order by {c}) as v from {t}").format(
        c=sql.Identifier(column), t=hub_table(bench.catalog.by_model(model))
    )
    [found] = rows(bench, query, ([0.1, 0.5, 0.9],))
    return sorted(set(found["v"]))


def version_instants(bench: StoreBench) -> list[datetime]:
    """Instants where drivers change tractors (inside the assignments' history), and now."""
    return [*instants(bench, "driver_assignments", "valid_from"), datetime.now(UTC)]


def held(bench: StoreBench, model: str, at: datetime) -> list[dict[str, Any]]:
    """The versions of an entity that held at an instant."""
    entity = bench.catalog.by_model(model)
    table = history_table(entity) if entity.history == "scd2" else hub_table(entity)
    query = sql.SQL("select * from {t} where valid_from <= %s and (valid_to is null or valid_to > %s)")
    return rows(bench, query.format(t=table), (at, at))


def held_edges(bench: StoreBench, model: str, at: datetime) -> dict[str, set[str]]:
    """Per key, the uuids of the timeline edges of the versions held at an instant."""
    entity = bench.catalog.by_model(model)
    edges: dict[str, set[str]] = defaultdict(set)
    for row in held(bench, model, at):
        key = key_of(entity, row)
        edges[key].add(
            edge_uuid(
                entity,
                key,
                normalize(row["valid_from"]),
                row["known_from_seq" if entity.history == "scd2" else "_landing_seq"],
            )
        )
    return dict(edges)


def keys(bench: StoreBench, model: str) -> list[str]:
    entity = bench.catalog.by_model(model)
    return [key_of(entity, r) for r in rows(bench, sql.SQL("select * from {t}").format(t=hub_table(entity)))]


# -- the graph servers' answers, asked the plain way -----------------------------------------------


def time_filter_mismatches(bench: StoreBench) -> list[str]:
    """Every plain time-range filter on the replica whose count differs from PostgreSQL's."""
    graph = bench.store("graph").dialect
    wrong = []
    for model, column in TIME_PROPERTIES:
        entity = bench.catalog.by_model(model)
        label = entity.label
        for value in instants(bench, model, column):
            for op in OPERATORS:
                query = sql.SQL("select count(*) as n from {t} where {c} " + op + " %s")
                [expected] = rows(bench, query.format(t=hub_table(entity), c=sql.Identifier(column)), (value,))
                [[found]] = graph.run(
                    f"MATCH (n:{label}) WHERE n.{column} {op} $t RETURN count(n)", {"t": normalize(value)}
                )
                if found != expected["n"]:
                    wrong.append(f"{label}.{column} {op} {normalize(value)}: {found}, postgres {expected['n']}")
    return wrong


def tractors_driven(bench: StoreBench, at: datetime) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per driver, the tractors driven at an instant, asked driver by driver: (timeline, PostgreSQL)."""
    spec = AsOf.of(bench.catalog, "driver_assignments", ())
    expected: dict[str, list[str]] = defaultdict(list)
    for row in held(bench, "driver_assignments", at):
        expected[str(row[spec.other])].append(str(row[spec.subject]))
    store: TimelineStore = bench.store("timeline")
    found: dict[str, list[str]] = defaultdict(list)
    for row in store.query(
        f"UNWIND $drivers AS d MATCH (n:Entity {{uuid: d}})-[e:RELATES_TO]->(u:Entity) WHERE {AS_OF} "
        "RETURN n.entity_key AS driver, u.entity_key AS unit",
        drivers=[node_uuid(spec.other_label, k) for k in keys(bench, "drivers")],
        group=GROUP,
        name=spec.timeline_name,
        t=at,
    ):
        found[row["driver"]].append(row["unit"])
    return {k: sorted(v) for k, v in found.items()}, {k: sorted(v) for k, v in expected.items()}


def tractor_states(bench: StoreBench, at: datetime) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per tractor, its state edges held at an instant, asked tractor by tractor: (timeline, PostgreSQL)."""
    spec = AsOf.of(bench.catalog, "tractors", ())
    store: TimelineStore = bench.store("timeline")
    found: dict[str, set[str]] = defaultdict(set)
    for row in store.query(
        f"UNWIND $nodes AS u MATCH (n:Entity {{uuid: u}})-[e:RELATES_TO]->(n) WHERE {AS_OF} "
        "RETURN n.entity_key AS key, e.uuid AS uuid",
        nodes=[node_uuid(spec.label, k) for k in keys(bench, "tractors")],
        group=GROUP,
        name=spec.timeline_name,
        t=at,
    ):
        found[row["key"]].add(row["uuid"])
    return dict(found), held_edges(bench, "tractors", at)


def graphiti_search(bench: StoreBench, query: str, at: datetime) -> list[str]:
    """graphiti-core's own edge search (BM25 + cosine, RRF: no LLM, no cross-encoder call) for
    edges valid at an instant: their uuids."""
    store: TimelineStore = bench.store("timeline")
    nowhere = LLMConfig(api_key="unused", base_url="http://127.0.0.1:9/v1")  # never called by RRF
    clients = GraphitiClients(
        driver=store.driver,
        llm_client=OpenAIClient(config=nowhere),
        embedder=graphiti_embedder(store.embedder),
        cross_encoder=OpenAIRerankerClient(config=nowhere),
        tracer=NoOpTracer(),
    )
    filters = SearchFilters(
        valid_at=[[DateFilter(date=at, comparison_operator=ComparisonOperator.less_than_equal)]],
        invalid_at=[
            [DateFilter(date=at, comparison_operator=ComparisonOperator.greater_than)],
            [DateFilter(comparison_operator=ComparisonOperator.is_null)],
        ],
        expired_at=[[DateFilter(comparison_operator=ComparisonOperator.is_null)]],
    )
    config = EDGE_HYBRID_SEARCH_RRF.model_copy(update={"limit": 200})
    results = store._run(search(clients, query, [GROUP], config, filters))
    return [edge.uuid for edge in results.edges]


def as_of_problems(bench: StoreBench) -> list[str]:
    problems = []
    for at in version_instants(bench):
        found, expected = tractors_driven(bench, at)
        problems += [
            f"driver {d} at {normalize(at)}: drove {found.get(d, [])}, postgres {expected.get(d, [])}"
            for d in sorted(set(found) | set(expected))
            if found.get(d, []) != expected.get(d, [])
        ]
        states, versions = tractor_states(bench, at)
        problems += [
            f"tractor {k} at {normalize(at)}: {len(states.get(k, ()))} state(s), postgres {len(versions.get(k, ()))}"
            for k in sorted(set(states) | set(versions))
            if states.get(k, set()) != versions.get(k, set())
        ]
    return problems


# -- (a) the replica -------------------------------------------------------------------------------


def test_plain_time_range_filters_on_the_replica_count_what_postgres_counts(synced: StoreBench) -> None:
    assert time_filter_mismatches(synced) == []


def test_the_next_sync_takes_away_a_time_index_an_older_one_left_and_g10_names_it(synced: StoreBench) -> None:
    """Every sync made a RANGE index on the time properties; on FalkorDB it changes answers."""
    graph = synced.store("graph")
    graph.dialect.ensure_node_index("Load", "pickup_at")
    outcome = synced.run_check("G10_filter_indexes")
    if synced.settings.neo4j_uri:  # Neo4j's index answers right: it is wanted there
        assert outcome.passed, outcome.offending
    else:
        assert outcome.offending == [
            "Load.pickup_at: indexed, and this server answers comparisons through that index wrongly"
        ]
    graph.prepare(synced.catalog)
    deadline = time.monotonic() + 30  # both servers build indexes in the background
    while not (outcome := synced.run_check("G10_filter_indexes")).passed and time.monotonic() < deadline:
        time.sleep(0.2)
    assert outcome.passed, outcome.offending
    assert time_filter_mismatches(synced) == []


# -- (b) the timeline ------------------------------------------------------------------------------


def test_plain_as_of_questions_find_one_tractor_per_driver_and_one_state_per_tractor(synced: StoreBench) -> None:
    moments = version_instants(synced)
    # the questions have answers: drivers were driving, tractors had states
    assert all(tractors_driven(synced, at)[1] for at in moments)
    assert as_of_problems(synced) == []


# -- (c) Graphiti's own search ---------------------------------------------------------------------


def test_graphiti_date_filtered_search_returns_only_edges_valid_at_the_instant(synced: StoreBench) -> None:
    for at in version_instants(synced):
        valid = set().union(*(s for m in VERSIONED for s in held_edges(synced, m, at).values()))
        found = graphiti_search(synced, "Tractor", at)
        assert found, f"nothing found at {normalize(at)}"
        stray = [uuid for uuid in found if uuid not in valid]
        assert stray == [], f"{len(stray)} of {len(found)} edges found at {normalize(at)} did not hold then"


# -- (d) a FalkorDB restart ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_graph_server(
    postgres_server: str, stores_template: str, hubs_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GraphServer, StoreBench]]:
    """A FalkorDB server of the module's own (its own port and files: restarting it disturbs no
    other test) with the replica and the timeline of what T1-T5 and the questions above read."""
    port = free_port()
    settings = dataclasses.replace(hubs_settings.load(), home=tmp_path_factory.mktemp("graph-restart"))
    server = GraphServer(dataclasses.replace(settings, falkordb_port=port), port)
    server.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HUBS_FALKORDB_URL", server.url)
            for name in ("HUBS_NEO4J_URI", "OPENAI_API_KEY", "HUBS_EMBEDDER"):
                patch.delenv(name, raising=False)
            with private_database(postgres_server, patch, "tr", STORES_TEMPLATE_DB):
                bench = StoreBench()
                try:
                    bench.holding_only("graph", sorted({*GRAPH_ENTITIES, *VERSIONED}))
                    bench.holding_only("timeline", sorted({*TIMELINE_ENTITIES, *VERSIONED}))
                    yield server, bench
                finally:
                    bench.close()
    finally:
        server.stop()


def restart_from_files(server: GraphServer, bench: StoreBench) -> None:
    """Stop and start the server so that it loads an RDB file, as it does once Redis rewrote the
    append-only file (automatically, when it outgrows 64 MB; a small graph never does)."""
    client = redis.Redis(port=server.port)
    client.execute_command("BGREWRITEAOF")
    deadline = time.monotonic() + 60
    while client.info("persistence")["aof_rewrite_in_progress"] or client.info("persistence")["aof_rewrite_scheduled"]:
        assert time.monotonic() < deadline, "the append-only file was not rewritten within a minute"
        time.sleep(0.05)
    assert client.info("persistence")["aof_last_bgrewrite_status"] == "ok"
    client.close()
    bench.release()
    server.stop()
    server.start()


def edges_per_entity(store: TimelineStore, filtered: bool) -> dict[tuple[str, str], int]:
    """Timeline edges at each entity node, leaving and arriving, found from the node (by uuid), with
    or without the group filter: {(uuid, direction): count}."""
    where = "WHERE e.group_id = $group " if filtered else ""
    nodes = [r["uuid"] for r in store.query("MATCH (n:Entity) RETURN n.uuid AS uuid")]
    found = {}
    for direction, pattern in (("out", "-[e:RELATES_TO]->()"), ("in", "<-[e:RELATES_TO]-()")):
        for row in store.query(
            f"UNWIND $nodes AS u MATCH (n:Entity {{uuid: u}}){pattern} {where}RETURN u AS uuid, count(e) AS edges",
            nodes=nodes,
            group=GROUP,
        ):
            found[(row["uuid"], direction)] = row["edges"]
    return found


def assert_right_after_a_restart(server: GraphServer, bench: StoreBench) -> None:
    """Every entity's edges found from its node with the group filter as without, before and after
    a restart from the server's files; the as-of answers, the time filters and T1-T5 right after."""
    store: TimelineStore = bench.store("timeline")
    before = edges_per_entity(store, filtered=False)
    assert before and edges_per_entity(store, filtered=True) == before
    lowest = store.query("MATCH (n) RETURN id(n) AS id, labels(n) AS labels, n.uuid AS uuid ORDER BY id(n) LIMIT 1")
    restart_from_files(server, bench)
    store = bench.store("timeline")
    assert edges_per_entity(store, filtered=False) == before
    # whichever entity's node has the lowest internal id (0, if an entity has it) is seen like every other
    assert edges_per_entity(store, filtered=True) == before, f"lowest node: {lowest}"
    assert as_of_problems(bench) == []
    assert time_filter_mismatches(bench) == []
    for name in T_CHECKS:
        outcome = bench.run_check(name)
        assert outcome.passed, (name, outcome.offending)


def test_after_a_restart_every_entity_keeps_its_timeline_and_the_checks_pass(
    own_graph_server: tuple[GraphServer, StoreBench],
) -> None:
    assert_right_after_a_restart(*own_graph_server)


def test_a_timeline_written_before_keeps_its_answers_after_the_next_sync_and_a_restart(
    own_graph_server: tuple[GraphServer, StoreBench],
) -> None:
    """A timeline an older version wrote (its first node, id 0, an entity with edges) is put right
    by the next sync's prepare, edges and all."""
    server, bench = own_graph_server
    store: TimelineStore = bench.store("timeline")
    store.clear(bench.catalog)
    # the next node FalkorDB makes takes the id deleted last: 0, as a first node always did
    store.query("MATCH (n) WHERE id(n) = 0 AND NOT n:Entity DETACH DELETE n")
    store.begin(bench.conn)  # as the sync does: superseded beliefs are read on its connection
    for model in sorted({*TIMELINE_ENTITIES, *VERSIONED}):
        entity = bench.catalog.by_model(model)
        for chunk, _ in feed.changes(bench.conn, entity, 0, store.extra_columns(entity), versions=True):
            store.upsert(entity, chunk)
    bench.conn.commit()
    assert store.query("MATCH (n:Entity)-[e]-() WHERE id(n) = 0 RETURN count(e) AS n")[0]["n"] > 0
    before = edges_per_entity(store, filtered=False)
    store.prepare(bench.catalog)
    assert edges_per_entity(store, filtered=False) == before
    assert_right_after_a_restart(server, bench)
