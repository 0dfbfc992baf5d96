"""Recall: the read side of the memory (issue 10). One query layer over PostgreSQL and the four
derived stores; the HTTP and MCP interfaces are thin wrappers over it. No Dagster in here.

memory.py (the API: Memory.get, Memory.neighbours) over: inputs.py (names checked against the
catalog, keys and times parsed), model.py (typed answers with their provenance), postgres.py (the
read-only reader), readthrough.py (records through the cache), graph.py and relations.py (one hop
from the graph, and the same hop computed from the rows), expand.py (the breadth-first search
both share), lags.py (how far each store is behind); http.py is the app of `hubs serve`."""
