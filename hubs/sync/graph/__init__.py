"""The graph replica: one store, two dialects (FalkorDB embedded, Neo4j in production)."""
