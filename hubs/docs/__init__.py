"""Documents generated from the dbt manifest (never edited by hand)."""
