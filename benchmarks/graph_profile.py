"""Where a full graph sync of some entities spends its time, split by phase.

    python benchmarks/stores.py --scale 0.2 --stores graph --keep   # prints the servers' HUBS_HOME
    HUBS_HOME=... HUBS_POSTGRES_PORT=... HUBS_REDIS_PORT=... HUBS_FALKORDB_PORT=... \\
        python benchmarks/graph_profile.py hos_events trips

Against servers a benchmark left running (FalkorDB, or Neo4j when HUBS_NEO4J_URI is set), each
named entity is emptied from the replica and written again as a full sync writes it (reading
the change feed, then the store's upsert per chunk), with wall-clock timers around the phases:
the server's round trips, the client's building of query parameters (FalkorDB's Cypher header),
turning rows into node properties and into relationships, and the relationships waiting in
PostgreSQL. Only timers, no profiler: the numbers are the sync's own speed. Nothing is written
to benchmarks/results (the phases explain stores.py's numbers; they are not a baseline).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubs import settings as hubs_settings
from hubs.catalog import load_catalog
from hubs.db import connect
from hubs.sync import feed
from hubs.sync.graph import store as graph_store
from hubs.sync.stores import opened

PHASES: Counter[str] = Counter()


def timed(phase: str, action: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return action(*args, **kwargs)
        finally:
            PHASES[phase] += time.perf_counter() - started

    return wrapper


def instrument(store: Any) -> None:
    """Timers around the phases (on this store object and the graph module only)."""
    dialect = store.dialect
    graph = getattr(dialect, "graph", None)
    if graph is not None:  # FalkorDB: the header is built in Python, then one command
        graph._build_params_header = timed("client: query parameters", graph._build_params_header)
        graph.execute_command = timed("server round trips", graph.execute_command)
    else:
        dialect.run = timed("server round trips (with the driver's encoding)", dialect.run)
    graph_store.properties = timed("rows -> node properties", graph_store.properties)
    relationships = store.relationships
    for name in ("direct", "indirect", "versions"):
        setattr(relationships, name, timed("rows -> relationships", getattr(relationships, name)))
    store._write_waiting = timed("relationships waiting in PostgreSQL", store._write_waiting)
    dialect.after_writes = timed("after writes (log rewrite check)", dialect.after_writes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entities", nargs="+", help="models, e.g. hos_events trips")
    args = parser.parse_args()
    settings = hubs_settings.load()
    catalog = load_catalog()
    known = {e.model: e for e in catalog.entities}
    unknown = [m for m in args.entities if m not in known]
    if unknown:
        parser.error(f"not entities of the catalog: {', '.join(unknown)}")
    conn = connect(settings)
    with opened("graph", settings, catalog) as store:
        store.begin(conn)
        instrument(store)
        for model in args.entities:
            entity = known[model]
            store.clear_entities(catalog, [entity])
            conn.commit()
            store.fresh = frozenset([model])
            PHASES.clear()
            reading = writing = 0.0
            rows = 0
            started = time.perf_counter()
            for batch, _upto in feed.changes(conn, entity, 0, store.extra_columns(entity), store.wants_versions):
                reading += time.perf_counter() - started
                started = time.perf_counter()
                store.upsert(entity, batch)
                writing += time.perf_counter() - started
                rows += len(batch)
                started = time.perf_counter()
            conn.commit()
            print(f"{model}: {rows:,} rows, reading the feed {reading:.2f} s, writing {writing:.2f} s")
            for phase, seconds in PHASES.most_common():
                print(f"  {phase:48s} {seconds:6.2f} s  {seconds / writing:5.0%}")
            other = writing - sum(PHASES.values())
            print(f"  {'the rest of the upsert (batching, grouping)':48s} {other:6.2f} s  {other / writing:5.0%}")
    conn.close()


if __name__ == "__main__":
    main()
