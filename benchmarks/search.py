"""Search latency: Memory.search over the stores the settings point at (HUBS_HOME, HUBS_*),
after `hubs demo --scale S` or a full refresh + sync. Not a test: it prints p50/p95/p99 in ms.

    python benchmarks/search.py [--questions 300] [--k 10] [--baseline]

Questions are words drawn from the searchable rows' own text (seeded), asked in each mode, with
and without filters (an entity and a status; a hub and a time range); the first question (which
reads the local Qdrant snapshot) is timed apart. On the embedded default, semantic search answers
from exact in-memory indexes (hubs/recall/exact_index.py); --baseline asks the same questions again
of qdrant-client's local mode itself (the bare store call), side by side in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg2 import sql

from benchmarks.stores import percentiles
from hubs.recall.memory import Memory
from hubs.recall.semantic import LocalSnapshot
from hubs.sync.feed import hub_table


def _words(memory: Memory, seed: int, count: int) -> list[str]:
    found: list[str] = []
    with memory.postgres.connection() as conn, conn.cursor() as cur:
        for entity in [e for e in memory.catalog.entities if e.vectors]:
            column = sql.Identifier(entity.vectors.text[0])
            cur.execute(sql.SQL("select {}::text from {} limit 200").format(column, hub_table(entity)))
            found += [w.strip(".,;:()") for (text,) in cur.fetchall() if text for w in text.split() if len(w) > 5]
    return random.Random(seed).sample(found, min(count, len(found)))


VARIANTS: dict[str, dict[str, Any]] = {
    "hybrid": {},
    "semantic": {"mode": "semantic"},
    "keyword": {"mode": "keyword"},
    "hybrid, entity+status": {"entities": ["maintenance_order"], "status": ["open", "done"]},
    "hybrid, hub+time": {"hubs": ["hub3_origin"], "time_from": "2024-01-01", "time_to": "2025-12-31"},
    "semantic, hub+time": {"mode": "semantic", "hubs": ["hub3_origin"], "time_from": "2024-01-01"},
}


def _run(memory: Memory, words: list[str], k: int) -> dict[str, Any]:
    """Every variant over the words, the first question (reading the snapshot) timed apart."""
    memory.vectors.drop()
    start = time.perf_counter()
    first = memory.search(words[0], k=k)
    report: dict[str, Any] = {
        "first_question_ms": round((time.perf_counter() - start) * 1000, 1),
        "first_provenance": first.provenance.reason,
    }
    snapshot = memory.vectors._client
    if isinstance(snapshot, LocalSnapshot):
        points = sum(len(i) for i in snapshot.indexes.values())
        report["exact_index"] = {"points": points, "megabytes": round(snapshot.nbytes / 1e6, 1)}
    for name, extra in VARIANTS.items():
        times = []
        for word in words:
            began = time.perf_counter()
            answer = memory.search(word, k=k, **extra)
            times.append(time.perf_counter() - began)
        report[name] = {**percentiles(times, digits=2), "degraded": answer.provenance.degraded}
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--baseline", action="store_true", help="also ask qdrant-client's local mode itself")
    args = parser.parse_args()
    with Memory() as memory:
        words = _words(memory, args.seed, args.questions)
        report = _run(memory, words, args.k)
        if args.baseline and not memory.settings.qdrant_url:
            memory.vectors.exact = False
            baseline = _run(memory, words, args.k)
            report = {"exact index": report, "local mode (baseline)": baseline}
            report["p99 local mode / exact"] = {
                name: round(baseline[name]["p99"] / report["exact index"][name]["p99"], 1) for name in VARIANTS
            }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
