"""What differs between graph servers: how to run Cypher, declare constraints and indexes,
read them back, and empty the replica. Everything else is the same Cypher on both."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SchemaItem:
    kind: str  # unique | node_index | edge_index
    label: str  # node label or relationship type
    prop: str
    online: bool


class GraphDialect(ABC):
    #: where this server's replica lives, for messages
    description: str
    #: labels and relationship types that other writers keep in the replica's database (they
    #: are not the replica's, so its checks look past them)
    foreign_labels: frozenset[str] = frozenset()
    foreign_types: frozenset[str] = frozenset()
    #: the function naming a node's id within the server (valid while the node lives), which a
    #: lookup by id finds without a label's index: `MATCH (n) WHERE id(n) = $i`
    node_id: str = "id"

    @abstractmethod
    def run(self, query: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        """Run Cypher; rows as lists of values."""

    def read(self, query: str, params: dict[str, Any] | None = None, timeout_ms: int | None = None) -> list[list[Any]]:
        """Run read-only Cypher (a reader's question: the server refuses a write), within a time
        limit where the server takes one."""
        return self.run(query, params)

    @abstractmethod
    def ensure_unique_key(self, label: str) -> None: ...

    @abstractmethod
    def ensure_node_index(self, label: str, prop: str) -> None: ...

    @abstractmethod
    def ensure_edge_index(self, rel_type: str, prop: str) -> None: ...

    @abstractmethod
    def drop_unique_key(self, label: str) -> None:
        """Remove the key constraint (its exact-match index may stay); ensure_unique_key restores it."""

    @abstractmethod
    def drop_node_index(self, label: str, prop: str) -> None: ...

    def indexes_right(self, data_type: str) -> bool:
        """Whether this server's property index answers every comparison on values of a column of
        this SQL type right (an index that does not must not exist: it changes answers)."""
        return True

    @abstractmethod
    def schema(self) -> list[SchemaItem]:
        """Constraints and indexes as the server reports them."""

    @abstractmethod
    def clear(self, labels: list[str]) -> None:
        """Remove the replica's nodes and edges (only these labels: a shared database may hold
        other data, such as Graphiti's timeline on Neo4j Community)."""

    def delete_label(self, label: str) -> None:
        """Remove every node of this label with all its relationships, however many, in batches."""
        # The label goes first (see delete_nodes).
        while self.run(f"MATCH (n:{label}) WITH n LIMIT 10000 REMOVE n:{label} DETACH DELETE n RETURN count(*)")[0][0]:
            pass

    def delete_nodes(self, label: str, keys: list[str]) -> None:
        """Remove the nodes of this label with these keys (one batch of a sync's deletes) and all
        their relationships."""
        # The label goes first: FalkorDB 4.16 sometimes kept a plain DETACH DELETEd node in its
        # label scan (any later read of the label then failed with "Attempted to access
        # undefined attribute"; tests/test_sync.py's refresh delete reproduced it every time).
        self.run(
            f"UNWIND $keys AS k MATCH (n:{label} {{key: k}}) WITH n REMOVE n:{label} DETACH DELETE n", {"keys": keys}
        )

    def copy_to(self, name: str) -> bool:
        """Copy the replica, with its indexes and constraints, into a new graph `name` (a new
        generation's, hubs/sync/generations.py); False when there was no graph to copy."""
        raise NotImplementedError(f"{self.description} keeps no generations")

    def drop(self) -> None:
        """Remove the whole replica (an old generation's)."""
        raise NotImplementedError(f"{self.description} keeps no generations")

    def after_writes(self) -> None:  # noqa: B027 - most servers need no housekeeping
        """Housekeeping after a batch of writes (keeping a server's restart fast)."""

    def close(self) -> None:  # noqa: B027 - some clients hold no connection
        """Release the connection."""
