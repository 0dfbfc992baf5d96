"""`hubs vectors` (collections and their points) and `hubs vectors search TEXT` (nearest points,
the text embedded with the same model the vector sync uses)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from hubs import settings as hubs_settings
from hubs.cli.app import main
from hubs.cli.look.default_group import DefaultGroup
from hubs.cli.look.table import echo_rows
from hubs.embeddings import Embedder, EmbeddingError, embedder_from_env
from hubs.secrets import scrub
from hubs.sync.engine import StoreUnavailable

if TYPE_CHECKING:  # every `hubs` command imports this module: qdrant_client costs ~1 s
    from qdrant_client import QdrantClient

# Payload fields every point carries; a search shows the entity's own fields after them.
BOOKKEEPING = ("hub", "entity", "label", "key", "content_hash", "model")


@contextmanager
def _client() -> Iterator[QdrantClient]:
    from hubs.sync.vectors import open_client

    settings = hubs_settings.load()
    try:
        client = open_client(settings.qdrant_url, settings.home / "qdrant")
    except StoreUnavailable as exc:
        hint = " (local mode admits one process at a time: is `dagster dev` or a sync running?)"
        raise click.ClickException(f"{exc}{'' if settings.qdrant_url else hint}") from None
    try:
        yield client
    finally:
        client.close()


def _embedder() -> Embedder:
    try:
        return embedder_from_env()
    except (EmbeddingError, ValueError) as exc:
        raise click.ClickException(f"embeddings: {scrub(str(exc))}") from None


@main.group(cls=DefaultGroup, default="collections")
def vectors() -> None:
    """The Qdrant vector store: `hubs vectors` lists collections, `hubs vectors search TEXT` asks them.

    \b
    hubs vectors
    hubs vectors search 'reefer unit failed inspection' --collection documents --limit 5
    """


@vectors.command()
def collections() -> None:
    """Every collection with its points, vector size and the model that fills it."""
    slug = _embedder().slug
    with _client() as client:
        rows = []
        for name in sorted(c.name for c in client.get_collections().collections):
            info = client.get_collection(name)
            size = getattr(info.config.params.vectors, "size", "?")
            count = client.count(name, exact=True).count
            in_use = "current model" if name.endswith(f"__{slug}") else "another model"
            rows.append((name, f"{count:,}", size, in_use))
    if not rows:
        click.echo("no collections yet: run `hubs sync vectors` (or `hubs demo`)")
        return
    echo_rows(["collection", "points", "dimension", "filled by"], rows)


def _targets(client: QdrantClient, slug: str, collection: str | None) -> list[str]:
    names = sorted(c.name for c in client.get_collections().collections)
    current = [n for n in names if n.endswith(f"__{slug}")]
    if collection is None:
        found = current
    else:
        found = [n for n in names if n in (collection, f"{collection}__{slug}")]
        if not found:
            known = ", ".join(n.removesuffix(f"__{slug}") for n in current) or "none yet"
            raise click.ClickException(f"no collection {collection!r} for the model {slug} (collections: {known})")
    if not found:
        raise click.ClickException(f"no collections for the model {slug} yet: run `hubs sync vectors`")
    return found


@vectors.command()
@click.argument("text")
@click.option("--collection", "-c", default=None, help="documents, knowledge_items, insights (default: all).")
@click.option("--limit", "-n", type=click.IntRange(min=1, max=1000), default=10, show_default=True)
def search(text: str, collection: str | None, limit: int) -> None:
    """The points nearest to TEXT (cosine), embedded as the vector sync embeds rows."""
    embedder = _embedder()
    try:
        vector = embedder.embed_one(text)
    except EmbeddingError as exc:
        raise click.ClickException(f"embeddings: {scrub(str(exc))}") from None
    with _client() as client:
        hits = []
        for name in _targets(client, embedder.slug, collection):
            response = client.query_points(name, query=vector, limit=limit, with_payload=True)
            hits += [(point.score, name, point.payload or {}) for point in response.points]
    hits.sort(key=lambda hit: -hit[0])
    rows = [
        (
            f"{score:.3f}",
            name.removesuffix(f"__{embedder.slug}"),
            payload.get("label", payload.get("entity", "")),
            payload.get("key", ""),
            {k: v for k, v in payload.items() if k not in BOOKKEEPING},
        )
        for score, name, payload in hits[:limit]
    ]
    echo_rows(["score", "collection", "label", "key", "payload"], rows)
