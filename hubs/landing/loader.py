"""Landing files into PostgreSQL: `<schema>.<table>.csv|jsonl` -> landing.<schema>__<table>.

Each file lands whole or not at all, in one transaction, streamed through COPY (memory stays
flat whatever the size). A file is refused with a message naming the problem when its name,
header or structure is wrong; a file already landed (same checksum) is skipped. Row-level
problems (bad values, missing keys, ...) are not the loader's business: every row lands and
staging decides, so rows are never lost here.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

from hubs.catalog import Catalog, Column, Entity
from hubs.db import connect
from hubs.landing.schema import ensure_landing
from hubs.settings import Settings

FILE_NAME = re.compile(r"^(?P<schema>[a-z0-9_]+)\.(?P<table>[a-z0-9_]+)\.(?P<format>csv|jsonl)$")
BOM = b"\xef\xbb\xbf"
CHUNK = 1 << 20
# A header field shown in a message must look like a column name; anything else a header
# holds (possibly a line of some other file) is counted, never echoed.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# PostgreSQL's JSON parser recurses; far deeper lines exhaust its stack and fail the whole
# statement, so they are found before parsing. Staging's own limit for values is lower (64).
MAX_JSON_LINE_DEPTH = 1000
JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
# PostgreSQL errors that say the server or the connection failed, not the file: the step
# fails on these (SQLSTATE classes: connection, resources, operator intervention, system).
NOT_ABOUT_THE_FILE = ("08", "53", "57", "58", "XX")


class RefusedFile(Exception):
    """The whole file is refused; the message says why in terms the sender can act on."""


@dataclass(frozen=True)
class FileResult:
    path: Path
    entity: str | None
    status: str  # loaded | skipped | refused
    rows: int
    message: str
    seconds: float

    @property
    def line(self) -> str:
        """What became of the file, in one line for people."""
        return file_line(self.status, self.path.name, self.rows, self.message)


def file_line(status: str, name: str, rows: int, message: str) -> str:
    """`loaded   hub3_origin.tractors.csv: 120 rows`, `refused  x.csv: <why>`: a count of rows
    only for a file that landed some (one refused or skipped landed none)."""
    detail = f"{rows:,} rows" if status == "loaded" else message
    return f"{status:8} {name}: {detail}".rstrip(": ")


class _TrailingBlankLinesTrimmed:
    """A binary stream without the blank lines some exports leave at the end of a file
    (COPY would read them as rows); everything else passes through unchanged, chunk by chunk."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.held = b""

    def read(self, size: int = -1) -> bytes:
        while True:
            chunk = self.handle.read(CHUNK)
            if not chunk:
                end = self.held.find(b"\n")
                rest, self.held = (self.held if end < 0 else self.held[: end + 1]), b""
                return rest
            data = self.held + chunk
            content = data.rstrip(b" \t\r\n")
            self.held = data[len(content) :]
            if content:
                return content


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def entity_for(path: Path, catalog: Catalog) -> tuple[Entity, str]:
    match = FILE_NAME.match(path.name)
    if not match:
        raise RefusedFile(
            f"unknown file name {path.name!r}: expected <schema>.<table>.csv or .jsonl, e.g. hub3_origin.tractors.csv"
        )
    stem = f"{match['schema']}.{match['table']}"
    entity = catalog.by_file_stem(stem)
    if entity is None:
        raise RefusedFile(f"unknown entity {stem}; {_suggestion(stem, catalog)}")
    return entity, match["format"]


def _suggestion(stem: str, catalog: Catalog) -> str:
    """The entity a misspelt or misplaced name most likely meant (`hub3_orign.tractors`,
    `hub2_openhaul.tractors`), instead of all 45 names."""
    names = [e.qualified_name for e in catalog.entities]
    table = stem.partition(".")[2]
    ratios = {n: difflib.SequenceMatcher(None, stem, n).ratio() for n in names}
    best = max(ratios.values())
    # The closest names, and any entity of that table name in another hub.
    close = [n for n in names if ratios[n] >= max(0.75, best - 0.05) or n.partition(".")[2] == table]
    if close:
        return f"did you mean {' or '.join(sorted(close, key=lambda n: -ratios[n])[:3])}?"
    return f"no entity is named like it (the {len(names)} entities: docs/6-HUB-SCHEMA-CROSS-REFERENCE.md)"


def check_columns(entity: Entity, columns: list[str], *, every_row: bool) -> None:
    """Refuse unknown, duplicated or (for CSV) missing required columns, naming them."""
    allowed = {c.name for c in entity.landed_columns} | {"_deleted"}
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        hints = []
        for name in filter(IDENTIFIER.match, unknown):
            col = next((c for c in entity.columns if c.name == name), None)
            if col is not None:
                why = "computed" if col.computed else "set by the platform"
                hints.append(f"{name} ({why})")
            else:
                hints.append(name)
        others = len(unknown) - len(hints)
        if others:
            hints.append(f"{others} header field(s) that are not column names (not shown)")
        raise RefusedFile(
            f"unknown column(s) for {entity.qualified_name}: {', '.join(hints)}. Allowed: {', '.join(sorted(allowed))}"
        )
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise RefusedFile(f"column(s) named twice in the header: {', '.join(duplicated)}")
    # A file of deletes ("_deleted" column) needs only the key; otherwise every required
    # column must be there (JSON lines may omit keys per row: staging judges those rows).
    required = entity.required_columns if every_row and "_deleted" not in columns else entity.primary_key
    missing = [c for c in required if c not in columns]
    if missing:
        raise RefusedFile(f"missing required column(s) for {entity.qualified_name}: {', '.join(missing)}")


def _temp_table(cur: Cursor, columns: list[str]) -> None:
    cur.execute(
        sql.SQL(
            "create temporary table _incoming ( _row_number bigint generated always as identity, {}) on commit drop"
        ).format(sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in columns))
    )


def _copy_csv(cur: Cursor, path: Path, entity: Entity) -> list[str]:
    with path.open("rb") as handle:
        first = handle.readline()
        if first.startswith(BOM):
            first = first[len(BOM) :]
        try:
            header_text = first.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RefusedFile(f"header is not UTF-8 text (invalid byte at position {exc.start})") from exc
        if not header_text.strip():
            raise RefusedFile("file has no header line")
        columns = [c.strip() for c in next(csv.reader([header_text.rstrip("\r\n")]))]
        check_columns(entity, columns, every_row=True)
        _temp_table(cur, columns)
        copy = sql.SQL("copy _incoming ({}) from stdin with (format csv, encoding 'UTF8')").format(
            sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        cur.copy_expert(copy.as_string(cur), _TrailingBlankLinesTrimmed(handle), size=CHUNK)
    return columns


def json_too_deep(text: str, max_depth: int) -> bool:
    """Whether JSON text nests deeper than max_depth (strings skipped; invalid text is judged
    by the brackets before it goes wrong, as a parser would meet them)."""
    depth = 0
    for token in JSON_TOKEN.finditer(text):
        char = token.group()[0]
        if char in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _too_deep_lines(cur: Cursor) -> list[int]:
    """Lines nested deeper than PostgreSQL can parse: only lines with that many brackets can
    be, so only those few are read back and measured here."""
    cur.execute(
        "select line_number, line from _lines where length(line) - length(translate(line, '[{', '')) > %s"
        " order by line_number",
        (MAX_JSON_LINE_DEPTH,),
    )
    return [number for number, line in cur if json_too_deep(line, MAX_JSON_LINE_DEPTH)][:5]


def _not_objects(cur: Cursor) -> list[str]:
    """What is wrong with the first lines that are not JSON objects, without their content."""
    cur.execute(
        "select line_number, e.sql_error_code,"
        " case when e.sql_error_code is null then jsonb_typeof(line::jsonb) end"
        " from _lines, pg_input_error_info(line, 'jsonb') as e"
        " where btrim(line) <> ''"
        " and case when e.sql_error_code is not null then true else jsonb_typeof(line::jsonb) <> 'object' end"
        " order by line_number limit 5"
    )
    found = []
    for number, code, kind in cur.fetchall():
        if kind is not None:
            found.append(f"line {number} is a JSON {kind}, not an object")
        elif code == "22P05":
            found.append(f"line {number} holds \\u0000 (or another character PostgreSQL text cannot hold)")
        else:
            found.append(f"line {number} is not valid JSON")
    return found


def _json_type_rule(column: Column) -> tuple[tuple[str, ...], str] | None:
    """(JSON types a column accepts besides null, what to call them) or None for any: a text
    or temporal column takes strings only, so an object never lands as its JSON text."""
    data_type = column.data_type.lower().strip()
    if data_type in ("jsonb", "json"):
        return None
    if data_type.endswith("[]"):
        return ("array", "string"), "an array or a string"
    if data_type == "boolean":
        return ("boolean", "string"), "a boolean or a string"
    if data_type.startswith(("numeric", "decimal", "integer", "smallint", "bigint", "real", "double")):
        return ("number", "string"), "a number or a string"
    return ("string",), "a string"


def _load_errors_sql(entity: Entity, columns: list[str]) -> sql.Composable:
    """Reasons (one per line) for values of the wrong JSON type; staging quarantines the row."""
    by_name = {c.name: c for c in entity.landed_columns}
    checks = []
    for name in columns:
        rule = _json_type_rule(by_name[name]) if name in by_name else None
        if rule is None:
            continue
        accepted, expected = rule
        checks.append(
            sql.SQL(
                "case when jsonb_typeof(j -> {col}) not in ({accepted}, 'null')"
                " then format('type: %s is a JSON %s, expected %s', {col}, jsonb_typeof(j -> {col}), {expected})"
                " end"
            ).format(
                col=sql.Literal(name),
                accepted=sql.SQL(", ").join(map(sql.Literal, accepted)),
                expected=sql.Literal(expected),
            )
        )
    if not checks:
        return sql.SQL("null")
    return sql.SQL("nullif(array_to_string(array[{}], e'\\n'), '')").format(sql.SQL(", ").join(checks))


def _copy_jsonl(cur: Cursor, path: Path, entity: Entity) -> list[str]:
    cur.execute(
        "create temporary table _lines (line_number bigint generated always as identity, line text) on commit drop"
    )
    with path.open("rb") as handle:
        first = handle.read(len(BOM))
        if first != BOM:
            handle.seek(0)
        # \x01 / \x02 cannot occur unescaped in JSON, so every line arrives verbatim.
        cur.copy_expert(
            "copy _lines (line) from stdin with (format csv, quote e'\\x01', delimiter e'\\x02', encoding 'UTF8')",
            handle,
            size=CHUNK,
        )
    deep = _too_deep_lines(cur)
    if deep:
        raise RefusedFile(
            f"line(s) {', '.join(map(str, deep))} nest deeper than {MAX_JSON_LINE_DEPTH} levels"
            " (JSON PostgreSQL cannot parse)"
        )
    bad = _not_objects(cur)
    if bad:
        raise RefusedFile(f"every line must be a JSON object: {'; '.join(bad)}")
    cur.execute(
        "select key from (select distinct jsonb_object_keys(line::jsonb) as key from _lines"
        " where btrim(line) <> '') as k order by key"
    )
    columns = [r[0] for r in cur.fetchall()]
    check_columns(entity, columns, every_row=False)
    landed = [*columns, "_load_errors"]
    _temp_table(cur, landed)
    # Values land as their text (an object or array as its JSON text, so quarantine shows it
    # as sent); a value of a JSON type its column does not take is named in _load_errors.
    cur.execute(
        sql.SQL(
            "insert into _incoming (_row_number, {cols}, _load_errors) overriding system value"
            " select line_number, {values}, {errors} from (select line_number, line::jsonb as j from _lines"
            " where btrim(line) <> '') as parsed order by line_number"
        ).format(
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
            values=sql.SQL(", ").join(sql.SQL("j ->> {}").format(sql.Literal(c)) for c in columns),
            errors=_load_errors_sql(entity, columns),
        )
    )
    return landed


def _land(cur: Cursor, path: Path, entity: Entity, fmt: str, checksum: str) -> int:
    cur.execute(
        "insert into landing._files (file_name, entity, checksum, bytes, format, status)"
        " values (%s, %s, %s, %s, %s, 'loaded') returning file_id",
        (path.name, entity.qualified_name, checksum, path.stat().st_size, fmt),
    )
    file_id = cur.fetchone()[0]
    columns = (_copy_csv if fmt == "csv" else _copy_jsonl)(cur, path, entity)
    cur.execute(
        sql.SQL(
            "insert into {table} (_file_id, _row_number, {cols})"
            " select %s, _row_number, {cols} from _incoming order by _row_number"
        ).format(
            table=sql.Identifier("landing", entity.landing_table),
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
        ),
        (file_id,),
    )
    rows = cur.rowcount
    cur.execute("update landing._files set rows = %s where file_id = %s", (rows, file_id))
    return rows


def _record_refusal(conn, path: Path, entity: str | None, checksum: str, message: str) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "insert into landing._files (file_name, entity, checksum, bytes, status, message)"
            " values (%s, %s, %s, %s, 'refused', %s)",
            (path.name, entity, checksum, path.lstat().st_size, message),
        )
    conn.commit()


def _postgres_message(exc: psycopg2.Error, fmt: str) -> str:
    """PostgreSQL's reason, with COPY's line number turned into the file's line number. COPY's
    context also quotes the offending value or line: only the line number and column name of
    it are kept, so a message never carries a file's content."""
    message = exc.diag.message_primary or type(exc).__name__
    context = (exc.diag.context or "").strip().splitlines()
    match = re.search(r"COPY \w+, line (\d+)(?:, column (\w+))?", context[0]) if context else None
    if match:
        # CSV: the header was read before COPY, so COPY's line 1 is the file's line 2.
        line = int(match.group(1)) + (1 if fmt == "csv" else 0)
        return f"{message} at line {line} of the file{', column ' + match.group(2) if match.group(2) else ''}"
    return message


def _about_the_file(exc: psycopg2.Error, conn) -> bool:
    """True unless the error says the server or connection failed (then the step must fail)."""
    code = exc.pgcode or ""
    return not conn.closed and bool(code) and not code.startswith(NOT_ABOUT_THE_FILE)


def load_file(conn, path: Path, catalog: Catalog) -> FileResult:
    started = time.monotonic()
    entity_name: str | None = None
    checksum = ""
    fmt = ""
    try:
        if path.is_symlink():
            raise RefusedFile("is a symbolic link; links are not followed (copy the file itself into the folder)")
        entity, fmt = entity_for(path, catalog)
        entity_name = entity.qualified_name
        if path.stat().st_size == 0:
            raise RefusedFile("file is empty (not even a header)")
        checksum = sha256_of(path)
        with conn.cursor() as cur:
            cur.execute(
                "select file_id from landing._files where entity = %s and checksum = %s and status = 'loaded'",
                (entity_name, checksum),
            )
            seen = cur.fetchone()
        if seen:
            return FileResult(
                path, entity_name, "skipped", 0, f"already landed as file {seen[0]}", time.monotonic() - started
            )
        with conn.cursor() as cur:
            rows = _land(cur, path, entity, fmt, checksum)
        conn.commit()
        return FileResult(path, entity_name, "loaded", rows, "", time.monotonic() - started)
    except RefusedFile as exc:
        message = str(exc)
    except psycopg2.Error as exc:
        # Whatever PostgreSQL says about the file refuses it (recorded, the next files land);
        # a lost server or connection is not the file's fault and fails the step.
        if not _about_the_file(exc, conn):
            raise
        message = f"unreadable file: {_postgres_message(exc, fmt)}"
    conn.rollback()
    if not checksum and not path.is_symlink():
        checksum = sha256_of(path)
    _record_refusal(conn, path, entity_name, checksum, message)
    return FileResult(path, entity_name, "refused", 0, message, time.monotonic() - started)


def expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named directly, and the files of named folders (sorted, hidden ones skipped). A
    named folder may be a link (an inbox on another disk); symbolic links to files, named or
    found in a folder, are passed on unfollowed and load_file refuses them without reading."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.iterdir() if (p.is_file() or p.is_symlink()) and not p.name.startswith(".")
            )
        elif path.exists() or path.is_symlink():
            yield path
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")


def load_paths(
    settings: Settings,
    catalog: Catalog,
    paths: Iterable[Path],
    progress: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            ensure_landing(cur, catalog)
        conn.commit()
        results = []
        for path in expand(paths):
            result = load_file(conn, path, catalog)
            results.append(result)
            if progress:
                progress(result)
        return results
    finally:
        conn.close()
