"""An exact in-memory index of one Qdrant collection, answering nearest-point questions with payload
filters as qdrant-client's local mode answers them, in milliseconds instead of a Python loop.

Why: local mode scores every point with numpy but then checks the payload filter point by point in
Python and builds a ScoredPoint per candidate, so a filtered question at scale 0.2 takes hundreds of
milliseconds. Here the filter is a boolean mask over columns read once, and the question one
matrix-vector product over the rows it keeps.

What it holds (read through the public API, `scroll(with_vectors=True)`, in pages): each point's
vector as float32, normalised for a cosine collection as local mode normalises it, and a column per
filtered payload field. Memory is the vectors, points x dimension x 4 bytes, plus ~40 bytes a point
for the columns and the (entity, key) rank, plus the entity and key strings. Measured on a local
collection of 85,000 random points x 256-d (the offline embedder's size at scale 1): 90.4 MB of
arrays (87 MB of them vectors), 92 MB in all, 235 MB at the peak while it is read (~7 s;
`python benchmarks/exact_index.py`). OpenAI's 1536-d model would take ~520 MB of vectors.

Filter semantics (those of qdrant-client's local mode, payload_filters.py, which follow the server):
- a Filter is answered when it is only `must` conditions (all must hold), each a FieldCondition on a
  field the index was built with; anything else (should, must_not, nested keys, geo, ...) raises
  UnsupportedFilter rather than answering differently;
- `match` (MatchValue, MatchAny) on a keyword field with string values: the point holds the field and
  its value, or one element of it when it is a list, is one of the strings (types are strict: the
  string "1" never matches the number 1); a missing or null field never matches;
- `range` (Range: gt, gte, lt, lte, bounds as written) on a number field: the value, or one element
  of a list, is a number (a boolean is not) within every bound given; missing never matches.

Scores and order: local mode computes a cosine score as the dot product, in float64, of the float32
point vectors and the float64 query divided by its norm. Here the masked rows are scored in float32
(half the memory traffic), the k-th best found with np.partition, and every candidate within a float32
rounding margin (MARGIN) of it re-scored in float64 as local mode does. The scores still differ from
local mode's in the last bits (~1e-8: local mode renormalises its vectors in place at every question,
and BLAS sums a row differently by its place in the matrix, so even identical vectors score apart by
~1e-16), so an order by raw score would order duplicate texts by noise. Scores are therefore ranked
by their step of TIE (1e-6: floor(score / TIE)) and, within a step, by (entity, key): `rank_key`,
which semantic.py also sorts the hits it merges by, and by which local mode's full ranking gives
the same first k (the test).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

#: qdrant-client's stand-in for a zero norm (local/distances.py, the Rust f32::EPSILON)
EPSILON = 1.1920929e-7
PAGE = 5_000  # points a scroll page: local mode sorts every id for each page, so not too small
#: float32 scores of unit vectors are within this of the float64 ones for any dimension used here,
#: so every point that could be in the exact top k is among the candidates re-scored
MARGIN = 1e-4
#: scores this close rank as equal (see the module), far above the noise, far below a real difference
TIE = 1e-6
RESCORE_BLOCK = 4096
#: below this share of kept rows, gathering them before the product reads less than scoring all
GATHER_BELOW = 0.4


class UnsupportedFilter(ValueError):
    """A filter the index does not answer (rather than answer it otherwise than Qdrant would)."""


@dataclass(frozen=True)
class ExactPoint:
    entity: str
    key: str
    score: float


@dataclass(frozen=True)
class _Column:
    """One payload field: `values[i]` belongs to point `owners[i]` (a list payload gives a point
    several entries, a missing field none)."""

    owners: np.ndarray  # int32
    values: np.ndarray  # int32 codes of strings (keyword) or float64 (number)
    codes: dict[str, int]  # keyword only: string -> code

    def rows(self, kept: np.ndarray, count: int) -> np.ndarray:
        mask = np.zeros(count, dtype=bool)
        mask[self.owners[kept]] = True
        return mask


def rank_key(score: float, entity: str, key: str) -> tuple[float, str, str]:
    """Best first: the score's TIE step, then entity and key (a stable order for equal scores)."""
    return (-math.floor(score / TIE), entity, key)


def _flat(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list) else [value]


def _keyword_column(payloads: Sequence[dict[str, Any]], field: str) -> _Column:
    owners: list[int] = []
    values: list[int] = []
    codes: dict[str, int] = {}
    for index, payload in enumerate(payloads):
        for value in _flat(payload.get(field)):
            if isinstance(value, str):  # a keyword condition asks strings: other types never match
                owners.append(index)
                values.append(codes.setdefault(value, len(codes)))
    return _Column(np.asarray(owners, dtype=np.int32), np.asarray(values, dtype=np.int32), codes)


def _number_column(payloads: Sequence[dict[str, Any]], field: str) -> _Column:
    owners: list[int] = []
    values: list[float] = []
    for index, payload in enumerate(payloads):
        for value in _flat(payload.get(field)):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                owners.append(index)
                values.append(float(value))
    return _Column(np.asarray(owners, dtype=np.int32), np.asarray(values, dtype=np.float64), {})


class ExactIndex:
    """The points of one collection, searchable exactly (see the module)."""

    def __init__(
        self,
        vectors: np.ndarray,
        payloads: Sequence[dict[str, Any]],
        keyword_fields: Iterable[str],
        number_fields: Iterable[str],
        cosine: bool,
    ) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(payloads), -1)
        if cosine:  # as local mode's cosine_similarity does to the stored vectors (a no-op bar rounding)
            norms = np.linalg.norm(self.vectors, axis=-1)[:, np.newaxis]
            self.vectors /= np.where(norms != 0.0, norms, EPSILON)
        self.cosine = cosine
        self.entities = [str(p.get("entity", "")) for p in payloads]
        self.keys = [str(p.get("key", "")) for p in payloads]
        # each point's place in (entity, key) order: duplicate texts make large groups of equal scores,
        # ordered by one integer per point in numpy rather than by strings in Python
        order = sorted(range(len(self.keys)), key=lambda i: (self.entities[i], self.keys[i]))
        self.tie_rank = np.empty(len(order), dtype=np.int32)
        self.tie_rank[order] = np.arange(len(order), dtype=np.int32)
        self.keywords = {f: _keyword_column(payloads, f) for f in keyword_fields}
        self.numbers = {f: _number_column(payloads, f) for f in number_fields}

    @classmethod
    def read(
        cls, client: QdrantClient, collection: str, keyword_fields: Sequence[str], number_fields: Sequence[str]
    ) -> ExactIndex:
        """Every point of the collection with its vector and the payload the filters and hits need."""
        params = client.get_collection(collection).config.params.vectors
        if not isinstance(params, models.VectorParams) or params.distance not in (
            models.Distance.COSINE,
            models.Distance.DOT,
        ):
            raise UnsupportedFilter(f"{collection}: only one unnamed cosine or dot vector is indexed")
        fields = sorted({"entity", "key", *keyword_fields, *number_fields})
        # filled a page at a time: the vectors as Python floats would take ~8x the array's memory
        matrix = np.empty((client.count(collection, exact=True).count, params.size), dtype=np.float32)
        payloads: list[dict[str, Any]] = []
        offset = None
        while True:
            page, offset = client.scroll(collection, limit=PAGE, offset=offset, with_payload=fields, with_vectors=True)
            if len(payloads) + len(page) > len(matrix):
                raise RuntimeError(f"{collection} grew while it was read")  # a snapshot never does
            matrix[len(payloads) : len(payloads) + len(page)] = [p.vector for p in page]
            payloads += [p.payload or {} for p in page]
            if offset is None:
                break
        cosine = params.distance == models.Distance.COSINE
        return cls(matrix[: len(payloads)], payloads, keyword_fields, number_fields, cosine)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def nbytes(self) -> int:
        """Bytes held by the numpy arrays (the Python strings of entities and keys not counted)."""
        columns = [*self.keywords.values(), *self.numbers.values()]
        return self.vectors.nbytes + self.tie_rank.nbytes + sum(c.owners.nbytes + c.values.nbytes for c in columns)

    def mask(self, flt: models.Filter | None) -> np.ndarray | None:
        """The points meeting the filter (None: every point)."""
        if flt is None:
            return None
        if flt.should or flt.must_not or flt.min_should:
            raise UnsupportedFilter("only `must` conditions are answered")
        must = flt.must if isinstance(flt.must, list) else [flt.must] if flt.must else []
        mask: np.ndarray | None = None
        for condition in must:
            rows = self._condition(condition)
            mask = rows if mask is None else mask & rows
        return mask

    def _condition(self, condition: Any) -> np.ndarray:
        if not isinstance(condition, models.FieldCondition):
            raise UnsupportedFilter(f"only field conditions are answered, not {type(condition).__name__}")
        field = condition.key
        if condition.match is not None and field in self.keywords and _only_match(condition):
            column = self.keywords[field]
            asked = _strings(condition.match)
            wanted = np.asarray([column.codes[s] for s in asked if s in column.codes], dtype=np.int32)
            return column.rows(np.isin(column.values, wanted), len(self))
        if isinstance(condition.range, models.Range) and field in self.numbers and _only_range(condition):
            column, span = self.numbers[field], condition.range
            kept = np.ones(len(column.values), dtype=bool)
            if span.gt is not None:
                kept &= column.values > span.gt
            if span.gte is not None:
                kept &= column.values >= span.gte
            if span.lt is not None:
                kept &= column.values < span.lt
            if span.lte is not None:
                kept &= column.values <= span.lte
            return column.rows(kept, len(self))
        raise UnsupportedFilter(f"the condition on {field!r} is not one the index answers")

    def search(self, vector: Sequence[float], flt: models.Filter | None, limit: int) -> list[ExactPoint]:
        """The `limit` points nearest the vector among those meeting the filter, best first."""
        query = np.asarray(vector, dtype=np.float64)
        if np.isnan(query).any():
            raise ValueError("Query vector must not contain NaN")  # as local mode
        if self.cosine:
            norm = np.linalg.norm(query)
            query = query / (norm if norm != 0.0 else EPSILON)
        mask = self.mask(flt)
        rows = np.arange(len(self)) if mask is None else np.flatnonzero(mask)
        if rows.size == 0 or limit <= 0:
            return []
        single = query.astype(np.float32)
        # Few rows kept: gather them; most: scoring all and picking reads the matrix once, without a
        # copy. einsum, not BLAS: BLAS's thread pool waits for cores that other questions and
        # processes hold (p99 ~12 ms against ~0.7 ms one-threaded on a busy 2-core machine).
        gather = rows.size < GATHER_BELOW * len(self)
        scores = _dot(self.vectors[rows], single) if gather else _dot(self.vectors, single)[rows]
        k = min(limit, rows.size)
        kth = np.partition(scores, rows.size - k)[rows.size - k]
        candidates = rows[scores >= kth - MARGIN]
        exact = self._rescored(candidates, query)
        best = np.lexsort((self.tie_rank[candidates], -np.floor(exact / TIE)))[:k]  # rank_key, in numpy
        chosen = zip(best.tolist(), candidates[best].tolist(), strict=True)
        return [ExactPoint(self.entities[i], self.keys[i], float(exact[j])) for j, i in chosen]

    def _rescored(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Local mode's float64 scores of the rows, a block at a time: a query scoring alike
        everywhere (a blank one) makes every row a candidate, and a float64 copy of all would double
        the index's memory."""
        blocks = [_dot(self.vectors[rows[i : i + RESCORE_BLOCK]], query) for i in range(0, len(rows), RESCORE_BLOCK)]
        return np.concatenate(blocks)


def _dot(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Each row of the matrix times the vector, in the vector's precision (float32 rows cast to
    float64 a buffer at a time, never copied whole). einsum, not BLAS: see ExactIndex.search;
    rescoring 52,000 candidates took 105 ms with `@` and 12 ms so (an inspection's kind, whose
    vectors all but tie: scale 1)."""
    return np.einsum("ij,j->i", matrix, vector, dtype=vector.dtype, casting="safe")


def _only_match(condition: models.FieldCondition) -> bool:
    others = (condition.range, condition.geo_bounding_box, condition.geo_radius, condition.geo_polygon)
    rest = (condition.values_count, condition.is_empty, condition.is_null)
    return all(o is None for o in (*others, *rest)) and isinstance(
        condition.match, (models.MatchValue, models.MatchAny)
    )


def _only_range(condition: models.FieldCondition) -> bool:
    others = (condition.match, condition.geo_bounding_box, condition.geo_radius, condition.geo_polygon)
    return all(o is None for o in (*others, condition.values_count, condition.is_empty, condition.is_null))


def _strings(match: models.MatchValue | models.MatchAny) -> list[str]:
    asked = [match.value] if isinstance(match, models.MatchValue) else list(match.any)
    if not all(isinstance(s, str) for s in asked):
        raise UnsupportedFilter("only string values are matched")
    return asked  # type: ignore[return-value]
