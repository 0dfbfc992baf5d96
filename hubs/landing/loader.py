"""Landing files into PostgreSQL: `<schema>.<table>.csv|jsonl` -> landing.<schema>__<table>.

Each file lands whole or not at all, in one transaction, streamed through COPY (memory stays
flat whatever the size). A file is refused with a message naming the problem when its name,
header or structure is wrong; a file already landed (same checksum) is skipped. Row-level
problems (bad values, missing keys, ...) are not the loader's business: every row lands and
staging decides, so rows are never lost here.
"""

from __future__ import annotations

import csv
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

from hubs.catalog import Catalog, Entity
from hubs.db import connect, relation_exists
from hubs.landing.schema import ensure_landing
from hubs.settings import Settings

FILE_NAME = re.compile(r"^(?P<schema>[a-z0-9_]+)\.(?P<table>[a-z0-9_]+)\.(?P<format>csv|jsonl)$")
BOM = b"\xef\xbb\xbf"
CHUNK = 1 << 20


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
        known = ", ".join(e.qualified_name for e in catalog.entities)
        raise RefusedFile(f"unknown entity {stem!r} in file name {path.name!r}; known: {known}")
    return entity, match["format"]


def check_columns(entity: Entity, columns: list[str], *, every_row: bool) -> None:
    """Refuse unknown, duplicated or (for CSV) missing required columns, naming them."""
    allowed = {c.name for c in entity.landed_columns} | {"_deleted"}
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        hints = []
        for name in unknown:
            col = next((c for c in entity.columns if c.name == name), None)
            if col is not None:
                why = "computed" if col.computed else "set by the platform"
                hints.append(f"{name} ({why})")
            else:
                hints.append(name)
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
            raise RefusedFile(f"header is not UTF-8 text: {exc}") from exc
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
    cur.execute(
        "select line_number from _lines where btrim(line) <> '' and not ("
        " pg_input_is_valid(line, 'jsonb') and jsonb_typeof(line::jsonb) = 'object')"
        " order by line_number limit 5"
    )
    bad = [str(r[0]) for r in cur.fetchall()]
    if bad:
        raise RefusedFile(f"line(s) {', '.join(bad)} are not JSON objects")
    cur.execute(
        "select key from (select distinct jsonb_object_keys(line::jsonb) as key from _lines"
        " where btrim(line) <> '') as k order by key"
    )
    columns = [r[0] for r in cur.fetchall()]
    check_columns(entity, columns, every_row=False)
    _temp_table(cur, columns)
    # JSON scalars become their text; arrays and objects stay JSON text (staging reads both).
    cur.execute(
        sql.SQL(
            "insert into _incoming (_row_number, {cols}) overriding system value"
            " select line_number, {values} from (select line_number, line::jsonb as j from _lines"
            " where btrim(line) <> '') as parsed order by line_number"
        ).format(
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
            values=sql.SQL(", ").join(sql.SQL("j ->> {}").format(sql.Literal(c)) for c in columns),
        )
    )
    return columns


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
            (path.name, entity, checksum, path.stat().st_size, message),
        )
    conn.commit()


def _postgres_message(exc: psycopg2.Error, fmt: str) -> str:
    """PostgreSQL's reason, with COPY's line number turned into the file's line number."""
    message = exc.diag.message_primary or str(exc).strip()
    context = (exc.diag.context or "").strip().splitlines()
    match = re.search(r"COPY \w+, line (\d+)(.*)", context[0]) if context else None
    if match:
        # CSV: the header was read before COPY, so COPY's line 1 is the file's line 2.
        line = int(match.group(1)) + (1 if fmt == "csv" else 0)
        detail = match.group(2).split(":", 1)[-1].strip() if ":" in match.group(2) else ""
        return f"{message} at line {line} of the file{': ' + detail[:200] if detail else ''}"
    return message


def load_file(conn, path: Path, catalog: Catalog) -> FileResult:
    started = time.monotonic()
    entity_name: str | None = None
    checksum = ""
    fmt = ""
    try:
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
    except (psycopg2.DataError, psycopg2.IntegrityError, psycopg2.ProgrammingError) as exc:
        message = f"unreadable file: {_postgres_message(exc, fmt)}"
    conn.rollback()
    _record_refusal(conn, path, entity_name, checksum or sha256_of(path), message)
    return FileResult(path, entity_name, "refused", 0, message, time.monotonic() - started)


def expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named directly, and the files of named folders (sorted, hidden ones skipped)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif path.exists():
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


def landed_checksums(settings: Settings) -> set[str]:
    """Checksums of every file landed so far (the inbox sensor skips these)."""
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            if not relation_exists(cur, "landing", "_files"):
                return set()
            cur.execute("select checksum from landing._files where status = 'loaded'")
            return {r[0] for r in cur.fetchall()}
    finally:
        conn.close()
