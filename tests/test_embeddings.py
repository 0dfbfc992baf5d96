"""Embeddings: the offline wordllama model for real, the real `openai` client against the loopback fake
server (tests/fake_openai.py), the choice by environment, and the Graphiti adapter with graphiti-core's own
code paths."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hubs.embeddings import (
    EmbeddingAuthError,
    EmbeddingConfigError,
    EmbeddingError,
    OfflineEmbedder,
    OpenAIEmbedder,
    embedder_from_env,
    graphiti_embedder,
)
from tests.fake_openai import FakeOpenAI, vector_for

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-test-hubs"

SHORT_TEXTS = [
    "Tractor 17 came in with a brake fault.",
    "The driver reported a flat tyre near Lyon.",
    "Invoice 4411 was paid late by the customer.",
    "The board approved the quarterly dividend.",
    "Load 88 was delivered to the warehouse on time.",
    "Brake chamber replaced on the trailer.",
    "New hire: dispatcher for the night shift.",
]


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def offline() -> OfflineEmbedder:
    return OfflineEmbedder()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as server:
        yield server


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No embedding settings from the developer's shell leak into a test."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HUBS_EMBEDDER"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def openai_embedder(fake: FakeOpenAI, **kwargs: object) -> OpenAIEmbedder:
    kwargs.setdefault("api_key", KEY)
    return OpenAIEmbedder(base_url=fake.base_url, **kwargs)  # type: ignore[arg-type]


# --- offline ---------------------------------------------------------------------------------------------------


def test_offline_model_dimension_and_slug(offline: OfflineEmbedder) -> None:
    assert offline.model == "wordllama-l2-supercat-256"
    assert offline.dimension == 256
    assert offline.slug == "wordllama256"
    vectors = offline.embed(SHORT_TEXTS)
    assert len(vectors) == len(SHORT_TEXTS)
    assert all(len(v) == 256 and all(isinstance(x, float) for x in v) for v in vectors)
    assert offline.embed([]) == []


def test_offline_vectors_are_deterministic_and_normalised(offline: OfflineEmbedder) -> None:
    first = np.array(offline.embed(SHORT_TEXTS))
    again = np.array(OfflineEmbedder().embed(SHORT_TEXTS))
    assert np.array_equal(first, again)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    # Different texts get different vectors (a constant vector would pass the checks above).
    assert len({tuple(np.round(v, 5)) for v in first}) == len(SHORT_TEXTS)


def test_offline_related_texts_score_higher(offline: OfflineEmbedder) -> None:
    tractor, chamber, dividend = offline.embed(
        ["tractor brake repair", "brake chamber replaced on truck", "quarterly dividend policy"]
    )
    related = cosine(tractor, chamber)
    assert related > cosine(tractor, dividend) + 0.3
    assert related > cosine(chamber, dividend) + 0.3
    # Unit vectors: the dot product is the cosine (what Qdrant's Dot distance and Graphiti compute).
    assert float(np.dot(tractor, chamber)) == pytest.approx(related, abs=1e-6)


def test_offline_matches_wordllamas_own_embedding(offline: OfflineEmbedder) -> None:
    """Our padding-free pooling gives what wordllama's `embed(norm=True)` gives."""
    import wordllama
    from wordllama import WordLlama

    reference = WordLlama.load(
        config="l2_supercat", dim=256, cache_dir=Path(wordllama.__file__).parent, disable_download=True
    ).embed(SHORT_TEXTS, norm=True)
    assert np.allclose(np.array(offline.embed(SHORT_TEXTS)), reference, atol=1e-5)


def test_offline_batches_and_token_chunks_keep_order(offline: OfflineEmbedder) -> None:
    texts = [f"{text} (note {i})" for i, text in enumerate(SHORT_TEXTS * 5)]
    one_by_one = np.array([offline.embed_one(text) for text in texts])
    # 3 texts per batch and 4 tokens per chunk: every text spans chunk boundaries, 12 batches.
    small = OfflineEmbedder(batch_size=3, token_chunk=4)
    assert np.allclose(np.array(small.embed(texts)), one_by_one, atol=1e-5)
    assert np.allclose(np.array(offline.embed(texts)), one_by_one, atol=1e-5)
    reversed_vectors = np.array(offline.embed(texts[::-1]))
    assert np.allclose(reversed_vectors[::-1], one_by_one, atol=1e-5)


def test_blank_texts_get_zero_vectors_in_place(offline: OfflineEmbedder) -> None:
    vectors = offline.embed(["brake repair", "", "   \n", "dividend"])
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)
    assert vectors[1] == [0.0] * 256 and vectors[2] == [0.0] * 256
    assert vectors[3] == offline.embed_one("dividend")
    assert not np.isnan(np.array(vectors)).any()


def test_embed_refuses_a_bare_string(offline: OfflineEmbedder) -> None:
    with pytest.raises(TypeError, match="embed_one"):
        offline.embed("brake repair")


def test_offline_long_text(offline: OfflineEmbedder) -> None:
    """A long document is embedded in bounded memory (token chunks) to the same vector as its repeats."""
    paragraph = "The brake chamber on trailer 12 was replaced after the inspection. "
    long_vector, short_vector = offline.embed([paragraph * 5_000, paragraph])
    assert cosine(long_vector, short_vector) > 0.99


OFFLINE_SCRIPT = """
import json, logging, socket, sys

def no_network(*args, **kwargs):
    raise OSError("network use is forbidden in this test")

# Any attempt to resolve a host or open a connection fails loudly.
socket.getaddrinfo = no_network
socket.create_connection = no_network
socket.socket.connect = no_network
socket.socket.connect_ex = no_network

handlers_before = list(logging.getLogger().handlers)
from hubs.embeddings import OfflineEmbedder, embedder_from_env
embedder = embedder_from_env()
assert isinstance(embedder, OfflineEmbedder), embedder
vector = embedder.embed_one(sys.argv[1])
json.dump({"vector": vector, "root_handlers_unchanged": logging.getLogger().handlers == handlers_before,
           "openai_imported": "openai" in sys.modules}, sys.stdout)
"""


def test_offline_works_with_no_network_and_no_cache(offline: OfflineEmbedder, tmp_path: Path) -> None:
    """A fresh process with HF_HUB_OFFLINE=1, an empty HOME (no ~/.cache) and sockets disabled."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "HUBS_EMBEDDER")}
    env.update({"HF_HUB_OFFLINE": "1", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    env.update({"HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO)})
    text = "tractor brake repair"
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT, text],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["vector"] == offline.embed_one(text)  # same vector in another process
    assert answer["root_handlers_unchanged"], "importing wordllama changed the root logger"
    assert not answer["openai_imported"]
    assert not list(tmp_path.rglob("*.safetensors")), "something was downloaded into the empty HOME"


# --- OpenAI against the fake server -----------------------------------------------------------------------------


def test_openai_dimension_order_and_wire_format(fake: FakeOpenAI) -> None:
    embedder = openai_embedder(fake)
    assert (embedder.model, embedder.dimension, embedder.slug) == (
        "text-embedding-3-small",
        1536,
        "openai-te3s-1536",
    )
    vectors = embedder.embed(SHORT_TEXTS)
    assert [len(v) for v in vectors] == [1536] * len(SHORT_TEXTS)
    for text, vector in zip(SHORT_TEXTS, vectors, strict=True):
        assert np.allclose(vector, vector_for(text), atol=1e-6)
    (request,) = fake.embedding_requests
    assert request.body["model"] == "text-embedding-3-small"
    assert request.body["input"] == SHORT_TEXTS
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert embedder.embed([]) == []
    assert len(fake.embedding_requests) == 1  # no request for no texts


def test_fake_speaks_the_documented_wire_format(fake: FakeOpenAI) -> None:
    """Raw HTTP, no client: float vectors by default, OpenAI's error envelope on a bad key or input."""

    def post(body: dict[str, object], key: str = KEY) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{fake.base_url}/embeddings",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    status, answer = post({"model": "text-embedding-3-small", "input": "brake"})
    assert status == 200 and answer["object"] == "list" and answer["model"] == "text-embedding-3-small"
    (item,) = answer["data"]
    assert (item["object"], item["index"]) == ("embedding", 0)
    assert np.allclose(item["embedding"], vector_for("brake"), atol=1e-6)
    assert set(answer["usage"]) == {"prompt_tokens", "total_tokens"}
    status, answer = post({"model": "text-embedding-3-small", "input": ["a", ""]})
    assert status == 400 and answer["error"]["param"] == "input"
    status, answer = post({"model": "text-embedding-3-small", "input": "a"}, key="sk-other")
    assert status == 401 and answer["error"]["code"] == "invalid_api_key"


def test_openai_batches_of_512_keep_order(fake: FakeOpenAI) -> None:
    texts = [f"Load {i} delivered to depot {i % 7}." for i in range(1200)]
    vectors = openai_embedder(fake).embed(texts)
    requests = fake.embedding_requests
    assert [len(r.body["input"]) for r in requests] == [512, 512, 176]
    assert [t for r in requests for t in r.body["input"]] == texts
    assert len(vectors) == 1200
    for i in (0, 511, 512, 1023, 1024, 1199):
        assert np.allclose(vectors[i], vector_for(texts[i]), atol=1e-6), i


def test_openai_character_budget_splits_batches(fake: FakeOpenAI) -> None:
    texts = ["x" * 400] * 10
    openai_embedder(fake, max_batch_chars=1000).embed(texts)
    assert [len(r.body["input"]) for r in fake.embedding_requests] == [2, 2, 2, 2, 2]


def test_openai_blank_texts_are_not_sent(fake: FakeOpenAI) -> None:
    """The API rejects empty strings; blank texts get the zero vector, the others their own."""
    vectors = openai_embedder(fake).embed(["brake", "", "  ", "dividend"])
    assert fake.embedding_requests[0].body["input"] == ["brake", "dividend"]
    assert vectors[1] == vectors[2] == [0.0] * 1536
    assert np.allclose(vectors[3], vector_for("dividend"), atol=1e-6)


def test_openai_retries_a_server_error_then_succeeds(fake: FakeOpenAI) -> None:
    fake.fail_next(1, status=500)
    vectors = openai_embedder(fake, max_retries=2).embed(["brake repair"])
    assert np.allclose(vectors[0], vector_for("brake repair"), atol=1e-6)
    first, second = fake.embedding_requests
    assert first.body == second.body
    assert second.headers.get("x-stainless-retry-count") == "1"


def test_openai_gives_up_after_its_retries(fake: FakeOpenAI) -> None:
    fake.fail_next(5, status=500)
    with pytest.raises(EmbeddingError, match="HTTP 500") as caught:
        openai_embedder(fake, max_retries=1).embed(["brake repair"])
    assert not isinstance(caught.value, EmbeddingAuthError)
    assert len(fake.embedding_requests) == 2  # the first try and one retry


def test_openai_rejected_key_is_a_clear_error_without_retries(fake: FakeOpenAI) -> None:
    bad_key = "sk-wrong-0123456789"
    with pytest.raises(EmbeddingAuthError, match="OPENAI_API_KEY") as caught:
        openai_embedder(fake, api_key=bad_key, max_retries=3).embed(["brake repair"])
    message = str(caught.value)
    assert "401" in message and fake.base_url in message
    assert bad_key not in message
    assert len(fake.embedding_requests) == 1  # a rejected key is not retried


def test_openai_injected_401(fake: FakeOpenAI) -> None:
    fake.fail_next(1, status=401)
    with pytest.raises(EmbeddingAuthError, match="rejected the API key"):
        openai_embedder(fake).embed(["brake repair"])


def test_openai_unreachable_endpoint() -> None:
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    embedder = OpenAIEmbedder(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=5)
    with pytest.raises(EmbeddingError, match="could not reach"):
        embedder.embed(["brake repair"])


def test_openai_needs_a_key(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(EmbeddingConfigError, match="OPENAI_API_KEY"):
        OpenAIEmbedder()


# --- choice by environment ----------------------------------------------------------------------------------


def test_env_without_key_is_offline(clean_env: pytest.MonkeyPatch) -> None:
    assert isinstance(embedder_from_env(), OfflineEmbedder)
    clean_env.setenv("OPENAI_API_KEY", "  ")  # blank counts as unset
    assert isinstance(embedder_from_env(), OfflineEmbedder)


def test_env_with_key_is_openai_and_honours_base_url(clean_env: pytest.MonkeyPatch, fake: FakeOpenAI) -> None:
    clean_env.setenv("OPENAI_API_KEY", KEY)
    clean_env.setenv("OPENAI_BASE_URL", fake.base_url)
    embedder = embedder_from_env()
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.dimension == 1536
    assert np.allclose(embedder.embed_one("brake"), vector_for("brake"), atol=1e-6)
    assert len(fake.embedding_requests) == 1


def test_env_override(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", KEY)
    clean_env.setenv("HUBS_EMBEDDER", "offline")
    assert isinstance(embedder_from_env(), OfflineEmbedder)
    clean_env.delenv("OPENAI_API_KEY")
    clean_env.setenv("HUBS_EMBEDDER", "openai")
    with pytest.raises(EmbeddingConfigError, match="OPENAI_API_KEY"):
        embedder_from_env()
    clean_env.setenv("HUBS_EMBEDDER", "bert")
    with pytest.raises(ValueError, match="HUBS_EMBEDDER"):
        embedder_from_env()


# --- Graphiti adapter -------------------------------------------------------------------------------------------


def test_graphiti_adapter_shapes(offline: OfflineEmbedder) -> None:
    from graphiti_core.embedder.client import EmbedderClient

    from hubs.embeddings import GraphitiEmbedder

    adapter = GraphitiEmbedder(offline)
    assert isinstance(adapter, EmbedderClient)
    assert adapter.config.embedding_dim == 256

    single = asyncio.run(adapter.create("brake repair"))
    assert isinstance(single, list) and len(single) == 256 and isinstance(single[0], float)
    assert single == offline.embed_one("brake repair")
    # Graphiti calls create(input_data=[text]) and expects the vector of that text, not a list of vectors.
    assert asyncio.run(adapter.create(input_data=["brake repair"])) == single

    batch = asyncio.run(adapter.create_batch(SHORT_TEXTS))
    assert batch == offline.embed(SHORT_TEXTS)
    assert asyncio.run(adapter.create_batch([])) == []
    with pytest.raises(TypeError, match="text only"):
        asyncio.run(adapter.create([101, 2023]))


def test_graphiti_code_paths_use_the_adapter(offline: OfflineEmbedder) -> None:
    """graphiti-core's own node-embedding functions accept the adapter and store our vectors."""
    from graphiti_core.nodes import EntityNode, create_entity_node_embeddings

    adapter = graphiti_embedder(offline)
    one = EntityNode(name="Tractor 17", group_id="fleet")
    asyncio.run(one.generate_name_embedding(adapter))
    assert one.name_embedding == offline.embed_one("Tractor 17")

    nodes = [EntityNode(name=name, group_id="fleet") for name in ("Brake chamber", "Dividend", "Depot Lyon")]
    asyncio.run(create_entity_node_embeddings(adapter, nodes))
    assert [n.name_embedding for n in nodes] == offline.embed([n.name for n in nodes])


def test_graphiti_adapter_over_openai(clean_env: pytest.MonkeyPatch, fake: FakeOpenAI) -> None:
    clean_env.setenv("OPENAI_API_KEY", KEY)
    clean_env.setenv("OPENAI_BASE_URL", fake.base_url)
    adapter = graphiti_embedder()  # from the environment
    assert adapter.config.embedding_dim == 1536  # type: ignore[attr-defined]
    vectors = asyncio.run(adapter.create_batch(["brake", "dividend"]))
    assert [len(v) for v in vectors] == [1536, 1536]
    assert np.allclose(vectors[1], vector_for("dividend"), atol=1e-6)
    assert len(asyncio.run(adapter.create(input_data=["brake"]))) == 1536
