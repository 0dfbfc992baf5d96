"""Concurrency pools (limits in dagster.yaml)."""

# Landing and dbt both write the system of record and move its watermarks: one at a time.
POSTGRES_WRITERS = "hubs_postgres_writers"
