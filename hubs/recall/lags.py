"""How far each derived store is behind PostgreSQL, as Recall sees it: hubs/freshness.py's
figures (the ones `hubs status` prints), read at most every `seconds` and shared by every
question meanwhile (reading them counts the rows past each watermark, too dear for each question)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from hubs.catalog import Catalog
from hubs.freshness import store_lags
from hubs.recall.model import Freshness
from hubs.recall.postgres import Reader

FRESHNESS_SECONDS = 5.0
RETRY_SECONDS = 2.0  # a derived store that failed is left alone this long


class Lags:
    def __init__(
        self, postgres: Reader, catalog: Catalog, seconds: float = FRESHNESS_SECONDS, vectors_name: str = "vectors"
    ) -> None:
        self.postgres = postgres
        self.catalog = catalog
        self.seconds = seconds
        self.vectors_name = vectors_name  # the vector store's name in sync_state (its embedder's slug in it)
        self._lags: dict[str, Freshness] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def of(self, store: str) -> Freshness:
        with self._lock:
            if time.monotonic() - self._read_at >= self.seconds:
                with self.postgres.connection() as conn:
                    lags = store_lags(conn, self.catalog, self.vectors_name)
                measured = datetime.now(UTC)
                self._lags = {lag.kind: Freshness.of(lag, measured) for lag in lags}
                self._read_at = time.monotonic()
            return self._lags[store]

    def expire(self) -> None:
        """Read them again at the next question."""
        with self._lock:
            self._read_at = float("-inf")


class Backoff:
    """Whether a derived store may answer now: not while it is behind PostgreSQL, nor for
    RETRY_SECONDS after it failed (questions go to PostgreSQL meanwhile; then it is tried again)."""

    def __init__(self, store: str) -> None:
        self.store = store
        self._retry_at = float("-inf")

    def failed(self) -> None:
        self._retry_at = time.monotonic() + RETRY_SECONDS

    def refused(self, lag: Freshness) -> str:
        """Why the store must not answer now ("" when it may)."""
        if not lag.in_sync:
            return f"the {self.store} is behind PostgreSQL ({lag.description})"
        if time.monotonic() < self._retry_at:
            return f"the {self.store} was unreachable moments ago"
        return ""
