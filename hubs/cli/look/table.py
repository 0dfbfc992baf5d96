"""Rows as an aligned text table, as psql prints them, and the small parsing the look-inside
commands share."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click

MAX_CELL = 80  # a long text (a meeting note) is cut, so a table stays a table


def cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, default=str, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
    text = " ".join(text.split())  # one line per row, whatever the value holds
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def echo_rows(headers: Sequence[str], rows: Sequence[Sequence[Any]], more: bool = False) -> None:
    """Print the rows and their count; `more`: the rows shown are only the first ones."""
    if headers:
        click.echo(format_table(headers, rows))
    count = f"({len(rows)} row{'' if len(rows) == 1 else 's'}"
    click.echo(count + (", more not shown: raise --limit)" if more else ")"))


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """`name=value` pairs as query parameters, the value as text (PostgreSQL casts it to the
    column's type; a key is text in the graph); `name:=value` passes JSON (a number, true, a list)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, found, raw = pair.partition("=")
        typed = name.endswith(":")
        name = name.removesuffix(":")
        if not found or not name.isidentifier():
            raise click.BadParameter(f"{pair!r} is not name=value (or name:=json)", param_hint="--param")
        try:
            params[name] = json.loads(raw) if typed else raw
        except ValueError:
            raise click.BadParameter(f"{pair!r}: {raw!r} is not JSON", param_hint="--param") from None
    return params


def query_options(placeholder: str, read_only: str) -> Callable[[Callable], Callable]:
    """The options `hubs sql` and `hubs cypher` share: -p parameters (written `placeholder` in
    the query), --write (default: `read_only`) and --limit."""
    options = (
        click.option(
            "-p",
            "--param",
            "params",
            multiple=True,
            metavar="NAME=VALUE",
            help=f"A parameter, {placeholder} in the query (text; NAME:=JSON for a number, boolean or list).",
        ),
        click.option("--write", is_flag=True, help=f"Allow changes (default: {read_only})."),
        click.option(
            "--limit", type=click.IntRange(min=1), default=200, show_default=True, help="Rows to print at most."
        ),
    )

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate
