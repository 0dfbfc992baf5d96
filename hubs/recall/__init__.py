"""Recall: the read side of the memory. One query layer over PostgreSQL and the four derived
stores; the HTTP and MCP interfaces are thin wrappers over it. No Dagster in here.

memory.py is the API (Memory.get, as_of, changes, neighbours, search, navigate, context), over:
- inputs.py (names checked against the catalog, keys and times parsed) and model.py (typed
  answers with their provenance);
- postgres.py (the read-only reader), readthrough.py (records through the cache), history.py
  (the bi-temporal history and the change feed, in PostgreSQL);
- graph.py and relations.py (one hop from the graph, and the same hop computed from the rows),
  expand.py (the breadth-first search both share);
- search.py (hybrid search fused by RRF) over semantic.py (Qdrant) and keyword.py (PostgreSQL
  full text); navigate.py (the catalog's named paths, compiled to Cypher and SQL); context.py
  (one capped block of text for a prompt);
- lags.py (how far each store is behind).
http.py is the app of `hubs serve`, mcp.py the tools of `hubs mcp`, tokens.py the bearer token
rule both HTTP interfaces follow."""
