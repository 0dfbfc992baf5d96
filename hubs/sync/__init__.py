"""Deriving the other stores from PostgreSQL: one change feed, one engine, one adapter a store."""
