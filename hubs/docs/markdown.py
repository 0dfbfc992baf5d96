"""Markdown the generated documents share: cells, tables, code names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def cell(text: object) -> str:
    # A pipe would end the cell and a newline the row; an empty cell reads as missing.
    return " ".join(str(text).split()).replace("|", "\\|") or "-"


def prose(text: str) -> str:
    # Descriptions are free text: '<digits>' or '<entity>:<key>' would be taken for HTML tags and vanish.
    return " ".join(text.split()).replace("<", "&lt;").replace(">", "&gt;")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def code(names: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)
