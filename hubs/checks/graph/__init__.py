"""The graph replica's checks (G1-G10) and its parity with PostgreSQL (X1).

PostgreSQL is the truth: every expectation is read from it (or from the catalog) and compared
with what the replica holds, through Cypher that runs unchanged on FalkorDB and Neo4j. Reads
are batched (UNWIND over keys, one aggregate query per label or relationship type), never a
round trip per row; G5 and G7 sample, X1 reads every row, streamed.

Relationships are compared per group (type, start label, end label), which is finer than per
type: OWNED_BY leaves goals, projects, tractors and trailers for different labels.
"""

from hubs.checks.graph import intervals, nodes, paths, schema  # noqa: F401 - they register on import
from hubs.checks.graph.expected_edges import expected_edges

__all__ = ["expected_edges"]
