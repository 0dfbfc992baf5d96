"""The exact index at a given size, without a world: random points (256-d, the offline embedder's
size) in a local-mode collection under a temporary folder, then its read time and memory and the
latency of a question with and without filters, side by side with local mode's own query_points
(and whether both give the same keys). Not a test: it prints JSON.

    python benchmarks/exact_index.py [--points 85000] [--questions 50]

85,000 points is about the number of vector points at scale 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from qdrant_client import QdrantClient, models

from benchmarks.stores import percentiles
from hubs.recall.exact_index import ExactIndex, rank_key
from hubs.recall.semantic import KEYWORD_FIELDS, NUMBER_FIELDS
from hubs.sync.vectors import TIME_FIELD, tune_local_storage

DIMENSION = 256
ENTITIES = ("maintenance_orders", "inspections", "rate_confirmations", "meeting_notes")
STATUSES = ("open", "done", "void")
START = 1.7e9  # epoch seconds of the first point's time; each next point is 10 minutes later
FILTER = models.Filter(
    must=[
        models.FieldCondition(key="entity", match=models.MatchAny(any=["maintenance_orders"])),
        models.FieldCondition(key="status", match=models.MatchAny(any=["open", "done"])),
        models.FieldCondition(key=TIME_FIELD, range=models.Range(gte=START, lte=START + 1e7)),
    ]
)


def _fill(client: QdrantClient, name: str, count: int, rng: np.random.Generator) -> None:
    client.create_collection(name, vectors_config=models.VectorParams(size=DIMENSION, distance=models.Distance.COSINE))
    tune_local_storage(client)
    for start in range(0, count, 5000):
        vectors = rng.standard_normal((min(5000, count - start), DIMENSION)).astype(np.float32)
        points = [
            models.PointStruct(
                id=str(uuid.uuid4()),
                vector=vector.tolist(),
                payload={
                    "entity": ENTITIES[n % 4],
                    "hub": f"hub{n % 3}",
                    "key": str(uuid.uuid4()),
                    "status": STATUSES[n % 3],
                    TIME_FIELD: START + n * 600.0,
                },
            )
            for n, vector in enumerate(vectors, start=start)
        ]
        client.upsert(name, points=points)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=85_000)
    parser.add_argument("--questions", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    report: dict[str, Any] = {"points": args.points, "dimension": DIMENSION}
    with tempfile.TemporaryDirectory() as folder:
        client = QdrantClient(path=folder)
        _fill(client, "bench", args.points, rng)
        tracemalloc.start()
        began = time.perf_counter()
        index = ExactIndex.read(client, "bench", KEYWORD_FIELDS, NUMBER_FIELDS)
        report["read_seconds"] = round(time.perf_counter() - began, 1)  # slowed by tracemalloc
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        report["megabytes"] = {"arrays": round(index.nbytes / 1e6, 1), "all": round(held / 1e6, 1)}
        report["megabytes"]["peak while read"] = round(peak / 1e6, 1)
        for label, flt in (("no filter", None), ("entity+status+time", FILTER)):
            exact, local, same = [], [], 0
            for _ in range(args.questions):
                vector = rng.standard_normal(DIMENSION).tolist()
                began = time.perf_counter()
                mine = index.search(vector, flt, 10)
                exact.append(time.perf_counter() - began)
                began = time.perf_counter()
                theirs = client.query_points("bench", query=vector, query_filter=flt, limit=20, with_payload=True)
                local.append(time.perf_counter() - began)
                # the index orders scores within a TIE step by (entity, key): so is local mode's answer
                ranked = sorted(theirs.points, key=lambda p: rank_key(p.score, p.payload["entity"], p.payload["key"]))
                same += [p.key for p in mine] == [p.payload["key"] for p in ranked[:10]]
            report[label] = {
                "exact index": percentiles(exact, digits=2),
                "local mode": percentiles(local, digits=2),
                "same answer": same,
            }
        client.close()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
