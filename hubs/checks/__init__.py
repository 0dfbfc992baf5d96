"""Consistency checks of the derived stores against PostgreSQL (G1-G10, X1-X4, T1-T5)."""
