"""Rows kept on disk while the simulation runs.

The simulation needs its state (tractors, loads, invoices) in memory, but the rows it reports
in bulk (ELD events, check calls, fuel purchases, trip versions) are only appended, then read
once in order. Holding them as dicts made generating scale 10 peak at 19 GB; a spool keeps a
chunk of them in memory and the rest pickled in an anonymous temporary file.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

Row = dict[str, Any]
CHUNK = 20_000


class Spool:
    """An append-only sequence of rows: `append`, `extend`, `len`, iteration in order, and
    `at(positions)` for a few rows by position. A row must not change once appended."""

    def __init__(self, rows: Iterable[Row] = (), chunk: int | None = None) -> None:
        self.chunk = chunk or CHUNK
        self.columns: list[str] = []  # every key of every row, in order of first appearance
        self._known: set[str] = set()
        self._buffer: list[Row] = []
        self._file: IO[bytes] | None = None
        self._spilled = 0  # rows in the file
        self.extend(rows)

    def append(self, row: Row) -> None:
        for key in row:
            if key not in self._known:
                self._known.add(key)
                self.columns.append(key)
        self._buffer.append(row)
        if len(self._buffer) >= self.chunk:
            self._spill()

    def extend(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.append(row)

    def __len__(self) -> int:
        return self._spilled + len(self._buffer)

    def __iter__(self) -> Iterator[Row]:
        for chunk in self._chunks():
            yield from chunk

    def at(self, positions: Iterable[int]) -> dict[int, Row]:
        """The rows at these positions, read in one pass."""
        wanted = sorted(set(positions))
        found: dict[int, Row] = {}
        start = 0
        for chunk in self._chunks():
            if len(found) == len(wanted):
                break
            end = start + len(chunk)
            for position in wanted[len(found) :]:
                if position >= end:
                    break
                found[position] = chunk[position - start]
            start = end
        if len(found) < len(wanted):
            raise IndexError(f"no row at position {wanted[len(found)]} of {len(self)}")
        return found

    def close(self) -> None:
        """Lets go of every row."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._buffer, self._spilled = [], 0

    def _spill(self) -> None:
        if self._file is None:
            # anonymous (unlinked at once), so nothing is left behind; closed by close() or with the spool
            self._file = tempfile.TemporaryFile(prefix="hubs-spool-")  # noqa: SIM115
        self._file.seek(0, 2)  # a reader may have moved the position
        pickle.dump(self._buffer, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._spilled += len(self._buffer)
        self._buffer = []

    def _chunks(self) -> Iterator[list[Row]]:
        read, position = 0, 0
        while read < self._spilled:
            assert self._file is not None
            self._file.seek(position)
            chunk = pickle.load(self._file)
            position = self._file.tell()
            read += len(chunk)
            yield chunk
        yield self._buffer
