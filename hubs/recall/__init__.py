"""Recall: the read side of the memory (issue 10). One query layer over PostgreSQL and the four
derived stores; the HTTP and MCP interfaces are thin wrappers over it. No Dagster in here."""
