"""FalkorDB (embedded by default): a graph of its own, `hubs`, on the graph server."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import redis
from falkordb import FalkorDB

from hubs.secrets import redact
from hubs.sync.engine import StoreUnavailable
from hubs.sync.graph.dialect import GraphDialect, SchemaItem
from hubs.sync.graph.falkordb_indexes import indexes_right

GRAPH = "hubs"
# FalkorDB replays its append-only log slowly (its indexes are not there while it loads: a log
# of a 20 MB sync took 90-150 s to replay here, the same data from an RDB base 0.3 s). So the log
# is rewritten into an RDB base whenever what it added since the last base passes this size.
LOG_REWRITE_BYTES = 16 * 1024 * 1024


def log_needs_rewrite(persistence: dict, threshold: int = LOG_REWRITE_BYTES) -> bool:
    """From the server's INFO persistence: whether its append-only log's tail is long enough to
    rewrite it into a snapshot (a restart then loads the snapshot instead of replaying queries)."""
    if not persistence.get("aof_enabled"):
        return False
    if persistence.get("aof_rewrite_in_progress") or persistence.get("aof_rewrite_scheduled"):
        return False
    return int(persistence.get("aof_current_size", 0)) - int(persistence.get("aof_base_size", 0)) >= threshold


_CHILDREN = ("aof_rewrite_in_progress", "rdb_bgsave_in_progress", "module_fork_in_progress")
COPY_TIMEOUT_SECONDS = 1800
CHILD_WAIT_SECONDS = 600  # an AOF rewrite of the replica at scale 1 takes seconds; a stuck one is an error


def _wait_for_no_child(connection: redis.Redis, limit: float = CHILD_WAIT_SECONDS) -> None:
    deadline = time.monotonic() + limit
    while any(int(connection.info("persistence").get(flag, 0)) for flag in _CHILDREN):
        if time.monotonic() > deadline:
            raise StoreUnavailable(f"FalkorDB has run a background save or rewrite for over {limit:.0f} s")
        time.sleep(0.1)


@contextlib.contextmanager
def _automatic_rewrites_off(connection: redis.Redis) -> Iterator[None]:
    try:
        saved = connection.config_get("auto-aof-rewrite-percentage").get("auto-aof-rewrite-percentage")
        connection.config_set("auto-aof-rewrite-percentage", 0)
    except redis.ResponseError:  # a managed server may refuse CONFIG
        saved = None
    try:
        yield
    finally:
        if saved is not None:
            connection.config_set("auto-aof-rewrite-percentage", saved)


class FalkorDialect(GraphDialect):
    def __init__(self, url: str, graph: str = GRAPH) -> None:
        self.url = url
        self.description = f"FalkorDB graph '{graph}' at {redact(url)}"
        self.graph_name = graph
        try:
            self.db = FalkorDB.from_url(url)
            self.db.connection.ping()
        except (redis.ConnectionError, redis.AuthenticationError, OSError) as exc:
            raise StoreUnavailable.reaching(f"FalkorDB (graph '{graph}')", url, exc) from None
        self.graph = self.db.select_graph(graph)

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        try:
            return self.graph.query(query, params or {}).result_set
        except redis.ConnectionError as exc:
            raise StoreUnavailable.reaching(f"FalkorDB (graph '{self.graph_name}', lost)", self.url, exc) from None
        except redis.ResponseError as exc:
            raise redis.ResponseError(f"{exc} (FalkorDB, in: {query[:300]})") from exc

    def read(self, query: str, params: dict[str, Any] | None = None, timeout_ms: int | None = None) -> list[list[Any]]:
        try:
            return self.graph.ro_query(query, params or {}, timeout=timeout_ms).result_set
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable.reaching(f"FalkorDB (graph '{self.graph_name}', lost)", self.url, exc) from None

    def _index(self, statement: str) -> None:
        try:
            self.graph.query(statement)
        except redis.ResponseError as exc:
            if "already indexed" not in str(exc):
                raise

    def ensure_unique_key(self, label: str) -> None:
        # FalkorDB builds a unique constraint on top of an exact-match index, asynchronously.
        self._index(f"CREATE INDEX FOR (n:{label}) ON (n.key)")
        try:
            self.db.connection.execute_command(
                "GRAPH.CONSTRAINT", "CREATE", self.graph_name, "UNIQUE", "NODE", label, "PROPERTIES", 1, "key"
            )
        except redis.ResponseError as exc:
            if "already exists" not in str(exc):
                raise

    def drop_unique_key(self, label: str) -> None:
        try:
            self.db.connection.execute_command(
                "GRAPH.CONSTRAINT", "DROP", self.graph_name, "UNIQUE", "NODE", label, "PROPERTIES", 1, "key"
            )
        except redis.ResponseError as exc:
            if "not exist" not in str(exc).lower():
                raise

    def drop_node_index(self, label: str, prop: str) -> None:
        try:
            self.graph.query(f"DROP INDEX FOR (n:{label}) ON (n.{prop})")
        except redis.ResponseError as exc:
            if "unable to drop index" not in str(exc).lower():
                raise

    def indexes_right(self, data_type: str) -> bool:
        return indexes_right(data_type)

    def ensure_node_index(self, label: str, prop: str) -> None:
        self._index(f"CREATE INDEX FOR (n:{label}) ON (n.{prop})")

    def ensure_edge_index(self, rel_type: str, prop: str) -> None:
        self._index(f"CREATE INDEX FOR ()-[r:{rel_type}]-() ON (r.{prop})")

    def schema(self) -> list[SchemaItem]:
        items = []
        for row in self.run("CALL db.constraints()"):
            kind, label, props, entity_type, status = row[0], row[1], row[2], row[3], row[4]
            if kind == "UNIQUE" and entity_type == "NODE":
                items += [SchemaItem("unique", label, p, status == "OPERATIONAL") for p in props]
        for row in self.run("CALL db.indexes() YIELD label, properties, entitytype, status"):
            label, props, entity_type, status = row
            kind = "node_index" if entity_type == "NODE" else "edge_index"
            items += [SchemaItem(kind, label, p, status == "OPERATIONAL") for p in props]
        return items

    def clear(self, labels: list[str]) -> None:
        # Nodes go in batches, the graph itself stays: deleting the graph key and making it again
        # under the same name left some queries failing with "Attempted to access undefined
        # attribute" on the new graph (the indexes and constraints stay, which prepare() wants).
        while self.run("MATCH (n) WITH n LIMIT 20000 DETACH DELETE n RETURN count(*)")[0][0]:
            pass

    def copy_to(self, name: str) -> bool:
        # GRAPH.COPY forks to dump the graph. A fork refused because another child runs (an AOF
        # rewrite: "Can't fork for module: File exists") leaves FalkorDB 4.16.3's main thread
        # waiting forever, every client with it (reproduced: BGREWRITEAOF, then GRAPH.COPY). So the
        # copy waits until no child runs, with automatic rewrites off meanwhile (a server that
        # refuses CONFIG keeps its own; a rewrite asked for during the copy is only scheduled).
        # Its own client: the copy outlasts the queries' socket timeout (5 s): 1.75 M nodes and
        # 5.25 M relationships (more than the replica at scale 1) took 19-26 s on a busy 2-core machine.
        # Whether there was a graph to copy: a graph never written has no key (GRAPH.COPY refuses
        # it, "Invalid graph operation on empty key"), and its copy is an empty graph too.
        connection = redis.Redis.from_url(self.url, socket_timeout=COPY_TIMEOUT_SECONDS)
        try:
            if not connection.exists(self.graph_name):
                return False
            with _automatic_rewrites_off(connection):
                _wait_for_no_child(connection)
                connection.execute_command("GRAPH.COPY", self.graph_name, name)
            return True
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable.reaching(f"FalkorDB (graph '{self.graph_name}', lost)", self.url, exc) from None
        finally:
            connection.close()

    def drop(self) -> None:
        with contextlib.suppress(redis.ResponseError):  # never made (an empty generation): nothing to drop
            self.graph.delete()

    def after_writes(self) -> None:
        try:
            # A managed server may refuse either command; a rewrite may have started meanwhile.
            with contextlib.suppress(redis.ResponseError):
                if log_needs_rewrite(self.db.connection.info("persistence")):
                    self.db.connection.bgrewriteaof()
        except redis.ConnectionError as exc:
            raise StoreUnavailable.reaching(f"FalkorDB (graph '{self.graph_name}', lost)", self.url, exc) from None

    def close(self) -> None:
        self.db.connection.close()
