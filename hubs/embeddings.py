"""Text embeddings for the vector store (Qdrant) and the timeline (Graphiti).

Two models, chosen by the environment (`embedder_from_env`):

* OpenAI `text-embedding-3-small` (1536-d) when OPENAI_API_KEY is set: production quality, needs the internet.
* `wordllama` (static token vectors, 256-d) otherwise: its weights and tokenizer ship inside the wheel
  (~33 MB installed), so it never downloads anything at run time and works on machines with no internet,
  in CI and in tests. It is much weaker than a transformer, but it needs no GPU, loads in ~0.2 s and embeds
  hundreds of thousands of short texts per second.

Every embedder returns L2-normalised vectors (cosine similarity == dot product) and the zero vector for a
blank text, so callers never see NaNs and both models behave the same way on odd input.
Vectors of different models must never share a Qdrant collection: use `Embedder.slug` in collection names.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from graphiti_core.embedder.client import EmbedderClient
    from tokenizers import Tokenizer

__all__ = [
    "OPENAI_DEFAULT_MODEL",
    "Embedder",
    "EmbeddingAuthError",
    "EmbeddingConfigError",
    "EmbeddingError",
    "GraphitiEmbedder",
    "OfflineEmbedder",
    "OpenAIEmbedder",
    "embedder_from_env",
    "graphiti_embedder",
]

log = logging.getLogger(__name__)

OPENAI_DEFAULT_MODEL = "text-embedding-3-small"
# Native sizes of OpenAI's embedding models; another model needs an explicit `dimension`.
_OPENAI_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
_OPENAI_SLUG_NAMES = {
    "text-embedding-3-small": "te3s",
    "text-embedding-3-large": "te3l",
    "text-embedding-ada-002": "ada2",
}


class EmbeddingError(RuntimeError):
    """An embedding request failed for good (retries exhausted, bad request, unreachable endpoint)."""


class EmbeddingAuthError(EmbeddingError):
    """The embedding service rejected the API key; retrying cannot help."""


class EmbeddingConfigError(EmbeddingError):
    """The environment asks for an embedder that cannot be built (e.g. OpenAI without a key)."""


class Embedder(ABC):
    """A text embedding model: `embed(texts)` -> one `dimension`-long unit vector per text, in order.

    Subclasses implement `_embed_batch` for non-blank texts; this base does the batching, keeps the order,
    answers [] for no input and the zero vector for blank texts (OpenAI rejects empty strings, wordllama
    would divide by zero), and normalises the result.
    """

    model: str
    dimension: int
    batch_size: int = 512
    # Optional budget of characters per batch (None: count only). OpenAI caps a request at 300k tokens.
    max_batch_chars: int | None = None

    @property
    @abstractmethod
    def slug(self) -> str:
        """Short name safe for Qdrant collection names, unique per model and dimension."""

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Raw vectors, shape (len(texts), dimension), for non-blank texts (normalisation is done here)."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, in input order; [] for no texts; zeros for a blank text."""
        return self.embed_array(texts).tolist()

    def embed_one(self, text: str) -> list[float]:
        """The vector of a single text (e.g. a search query)."""
        return self.embed([text])[0]

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Like `embed` but as a float32 array of shape (len(texts), dimension): cheaper for bulk loads."""
        if isinstance(texts, str):
            # A bare string is a Sequence[str] of characters: embedding each letter is never what was meant.
            raise TypeError("embed() takes a sequence of texts, not a single string: use embed_one()")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        wanted = [i for i, text in enumerate(texts) if text.strip()]
        for batch in self._batches(wanted, texts):
            vectors = np.asarray(self._embed_batch([texts[i] for i in batch]), dtype=np.float32)
            if vectors.shape != (len(batch), self.dimension):
                raise EmbeddingError(
                    f"{self.model} returned vectors of shape {vectors.shape}, expected ({len(batch)}, {self.dimension})"
                )
            out[batch] = vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def _batches(self, indices: list[int], texts: Sequence[str]) -> Iterator[list[int]]:
        batch: list[int] = []
        chars = 0
        for i in indices:
            size = len(texts[i])
            over_budget = self.max_batch_chars is not None and chars + size > self.max_batch_chars
            if batch and (len(batch) >= self.batch_size or over_budget):
                yield batch
                batch, chars = [], 0
            batch.append(i)
            chars += size
        if batch:
            yield batch

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, dimension={self.dimension})"


# --- offline: wordllama -------------------------------------------------------------------------------------

_WORDLLAMA_CONFIG = "l2_supercat"
_WORDLLAMA_DIM = 256
_wordllama_lock = threading.Lock()


@cache
def _wordllama_model() -> tuple[np.ndarray, Tokenizer]:
    """The wordllama token matrix and tokenizer, read once per process from the installed package."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise EmbeddingConfigError(
            "the offline embedder needs the 'wordllama' package (pip install 'wordllama>=0.4,<0.5'), "
            "or set OPENAI_API_KEY to use OpenAI"
        ) from exc
    finally:
        # wordllama.inference calls logging.basicConfig(level=INFO) at import time, which would turn on
        # INFO logging of every library in our process; undo that.
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    package_dir = Path(wordllama.__file__).parent
    # The wheel ships weights/ and tokenizers/ in its package dir; using it as the cache and forbidding
    # downloads makes a broken install fail loudly instead of reaching for huggingface.co.
    inference = WordLlama.load(
        config=_WORDLLAMA_CONFIG, dim=_WORDLLAMA_DIM, cache_dir=package_dir, disable_download=True
    )
    matrix = np.ascontiguousarray(inference.embedding, dtype=np.float32)
    # Our own copy of the tokenizer without padding: we pool over exact token lists (see OfflineEmbedder).
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(inference.tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return matrix, tokenizer


def _load_wordllama() -> tuple[np.ndarray, Tokenizer]:
    # functools.cache does not stop two threads from loading at once; the lock does.
    with _wordllama_lock:
        return _wordllama_model()


class OfflineEmbedder(Embedder):
    """wordllama `l2_supercat` 256-d: the mean of the text's token vectors, normalised.

    Pooling is done here over the flat token list rather than with `WordLlamaInference.embed`, which pads
    every batch to its longest text: one long document in a batch of 64 would allocate 64 x its length x
    256 floats. Here the token rows are gathered `token_chunk` at a time (4096 x 1 KB stays in the CPU
    cache, which measured 2-3x faster than larger chunks), so memory is bounded whatever the text
    lengths; results are the same (tested).
    """

    model = f"wordllama-{_WORDLLAMA_CONFIG.replace('_', '-')}-{_WORDLLAMA_DIM}"
    dimension = _WORDLLAMA_DIM

    def __init__(self, batch_size: int = 4096, token_chunk: int = 4096) -> None:
        if batch_size < 1 or token_chunk < 1:
            raise ValueError("batch_size and token_chunk must be positive")
        self.batch_size = batch_size
        self.token_chunk = token_chunk
        self._matrix, self._tokenizer = _load_wordllama()

    @property
    def slug(self) -> str:
        return f"wordllama{self.dimension}"

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        # Same tokenisation as wordllama itself (no special tokens); the `_fast` variant skips character
        # offsets we do not use and halves the tokenising time (tokenizers >= 0.20).
        encode = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)
        encodings = encode(texts, add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        ids = np.fromiter(chain.from_iterable(e.ids for e in encodings), dtype=np.int64, count=int(lengths.sum()))
        np.clip(ids, 0, self._matrix.shape[0] - 1, out=ids)
        owner = np.repeat(np.arange(len(texts)), lengths)  # text index of every token
        sums = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, ids.size, self.token_chunk):
            chunk_owner = owner[start : start + self.token_chunk]
            rows = self._matrix[ids[start : start + self.token_chunk]]
            # Tokens of one text are contiguous: sum each run, then add it to its text (a text may span chunks).
            run_starts = np.flatnonzero(np.r_[True, chunk_owner[1:] != chunk_owner[:-1]])
            sums[chunk_owner[run_starts]] += np.add.reduceat(rows, run_starts, axis=0)
        # The sum has the direction of the mean; normalising in `embed_array` makes them equal.
        return sums


# --- OpenAI ---------------------------------------------------------------------------------------------------


class OpenAIEmbedder(Embedder):
    """OpenAI embeddings through the official client.

    Retries (408/409/429/5xx and connection errors, exponential backoff with jitter, honouring Retry-After)
    are the client's own, set with `max_retries`. OPENAI_BASE_URL points it at a proxy or at the test fake.
    """

    def __init__(
        self,
        model: str = OPENAI_DEFAULT_MODEL,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dimension: int | None = None,
        batch_size: int = 512,
        max_batch_chars: int | None = 600_000,
        max_retries: int = 4,
        timeout: float = 60.0,
    ) -> None:
        import openai

        api_key = (api_key or os.environ.get("OPENAI_API_KEY") or "").strip()
        if not api_key:
            raise EmbeddingConfigError("OpenAI embeddings need an API key: set OPENAI_API_KEY")
        if dimension is None:
            if model not in _OPENAI_DIMENSIONS:
                raise EmbeddingConfigError(f"unknown dimension of OpenAI model {model!r}: pass dimension=")
            dimension = _OPENAI_DIMENSIONS[model]
        if not 1 <= batch_size <= 2048:  # 2048 inputs is the API's limit per request
            raise ValueError("batch_size must be between 1 and 2048")
        self.model = model
        self.dimension = dimension
        self.batch_size = batch_size
        # ~3 characters per token keeps a full batch well under the API's 300k tokens per request.
        self.max_batch_chars = max_batch_chars
        self._openai = openai
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url or os.environ.get("OPENAI_BASE_URL") or None,
            max_retries=max_retries,
            timeout=timeout,
        )
        self.base_url = str(self._client.base_url)
        self.max_retries = max_retries

    @property
    def slug(self) -> str:
        name = _OPENAI_SLUG_NAMES.get(self.model) or re.sub(r"[^a-z0-9]+", "-", self.model.lower()).strip("-")
        return f"openai-{name}-{self.dimension}"

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        openai = self._openai
        try:
            response = self._client.embeddings.create(model=self.model, input=texts)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise EmbeddingAuthError(
                f"{self.base_url} rejected the API key (HTTP {exc.status_code}): {_api_message(exc)}. "
                "Check OPENAI_API_KEY, or unset it to use the offline embedder."
            ) from exc
        except openai.APIStatusError as exc:
            raise EmbeddingError(
                f"embedding {len(texts)} texts with {self.model} failed with HTTP {exc.status_code} "
                f"(retried up to {self.max_retries} times where retrying makes sense): {_api_message(exc)}"
            ) from exc
        except openai.APIConnectionError as exc:
            raise EmbeddingError(f"could not reach {self.base_url} after {self.max_retries} retries: {exc}") from exc
        data = sorted(response.data, key=lambda item: item.index)  # the API states each input's index
        if len(data) != len(texts):
            raise EmbeddingError(f"{self.model} returned {len(data)} vectors for {len(texts)} texts")
        return np.asarray([item.embedding for item in data], dtype=np.float32)


def _api_message(exc: Any) -> str:
    """The server's own error message (OpenAI masks keys in it), not the client's repr of the whole body."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(getattr(exc, "message", exc))


# --- choice by environment ------------------------------------------------------------------------------------


def embedder_from_env() -> Embedder:
    """OpenAI when OPENAI_API_KEY is set, else the offline model; HUBS_EMBEDDER=offline|openai forces one."""
    choice = os.environ.get("HUBS_EMBEDDER", "").strip().lower()
    has_key = bool(os.environ.get("OPENAI_API_KEY", "").strip())
    if choice not in ("", "auto", "offline", "openai"):
        raise ValueError(f"HUBS_EMBEDDER must be 'offline' or 'openai', not {choice!r}")
    if choice == "openai" or (choice in ("", "auto") and has_key):
        if not has_key:
            raise EmbeddingConfigError("HUBS_EMBEDDER=openai needs OPENAI_API_KEY")
        return OpenAIEmbedder()
    return OfflineEmbedder()


# --- Graphiti adapter -----------------------------------------------------------------------------------------


@cache
def _graphiti_embedder_class() -> type[EmbedderClient]:
    # Built on first use: importing graphiti_core imports all of Graphiti (~1 s, neo4j, posthog), which the
    # Qdrant side and the CLI should not pay for.
    from graphiti_core.embedder.client import EmbedderClient, EmbedderConfig

    class GraphitiEmbedder(EmbedderClient):
        """graphiti-core `EmbedderClient` around one of our embedders, so Graphiti never builds its own
        OpenAI client. The sync embedder runs in a worker thread so Graphiti's event loop is not blocked.

        Unlike graphiti's OpenAIEmbedder it does not cut vectors to EMBEDDING_DIM (default 1024): vectors
        keep the embedder's dimension, which `config.embedding_dim` reports.
        """

        def __init__(self, embedder: Embedder | None = None) -> None:
            self.embedder = embedder if embedder is not None else embedder_from_env()
            self.config = EmbedderConfig(embedding_dim=self.embedder.dimension)

        async def create(self, input_data: str | list[str] | Iterable[int] | Iterable[Iterable[int]]) -> list[float]:
            """The vector of one text; for a list, of its first text (as graphiti's own OpenAI embedder)."""
            if isinstance(input_data, str):
                text = input_data
            else:
                items = list(input_data)
                if not items or not isinstance(items[0], str):
                    raise TypeError("GraphitiEmbedder embeds text only (a string or a list of strings)")
                text = items[0]
            vectors = await asyncio.to_thread(self.embedder.embed, [text])
            return vectors[0]

        async def create_batch(self, input_data_list: list[str]) -> list[list[float]]:
            """One vector per text, in order."""
            return await asyncio.to_thread(self.embedder.embed, list(input_data_list))

        def __repr__(self) -> str:
            return f"GraphitiEmbedder({self.embedder!r})"

    GraphitiEmbedder.__module__ = __name__
    return GraphitiEmbedder


def graphiti_embedder(embedder: Embedder | None = None) -> EmbedderClient:
    """A `GraphitiEmbedder` around `embedder` (default: `embedder_from_env()`), for `Graphiti(embedder=...)`."""
    return _graphiti_embedder_class()(embedder)


if TYPE_CHECKING:
    # The class exists only once graphiti_core is imported (see `_graphiti_embedder_class`).
    GraphitiEmbedder: type[Any]


def __getattr__(name: str) -> Any:
    # `from hubs.embeddings import GraphitiEmbedder` works, but graphiti_core is imported only then.
    if name == "GraphitiEmbedder":
        return _graphiti_embedder_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
