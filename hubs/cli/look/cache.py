"""`hubs cache [PATTERN]` (keys with their types and TTLs) and `hubs cache get KEY` (a value)."""

from __future__ import annotations

import json
from typing import Any

import click
import redis

from hubs import settings as hubs_settings
from hubs.cli.app import main, require_servers, up_hint
from hubs.cli.look.default_group import DefaultGroup
from hubs.cli.look.table import echo_rows
from hubs.secrets import redact, scrub
from hubs.sync.cache import BOOKKEEPING, INDEX_PREFIX


def _client() -> redis.Redis:
    settings = hubs_settings.load()
    require_servers(settings, ["cache"])
    url = settings.effective_redis_url
    try:
        client = redis.Redis.from_url(url, socket_timeout=10, decode_responses=True)
        client.ping()
    except (redis.ConnectionError, redis.AuthenticationError, OSError, ValueError) as exc:
        raise click.ClickException(
            f"cannot reach the cache at {redact(url)}: {scrub(str(exc), extra=[url])}{up_hint(settings, 'cache')}"
        ) from None
    return client


def _ttl(seconds: int) -> str:
    return "none" if seconds < 0 else f"{seconds} s"


@main.group(cls=DefaultGroup, default="keys")
def cache() -> None:
    """The Redis cache: `hubs cache [PATTERN]` lists keys, `hubs cache get KEY` shows one.

    \b
    hubs cache 'truck:*'
    hubs cache get 'truck:T-1001:status'
    """


@cache.command()
@click.argument("pattern", default="*")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Keys to print at most.")
def keys(pattern: str, limit: int) -> None:
    """Keys matching PATTERN (a Redis glob, default *), with type and time to live."""
    client = _client()
    # The sync's own bookkeeping (which keys each row wrote) is shown only when asked for by name.
    own = pattern.startswith((INDEX_PREFIX, *BOOKKEEPING))
    found, hidden = [], 0
    for key in client.scan_iter(match=pattern, count=1000):
        if not own and (key.startswith(INDEX_PREFIX) or key in BOOKKEEPING):
            hidden += 1
        else:
            found.append(key)
    if not found:
        click.echo(f"no keys match {pattern!r}" + (f" ({hidden:,} bookkeeping keys not shown)" if hidden else ""))
        return
    found.sort()
    shown = found[:limit]
    pipe = client.pipeline()
    for key in shown:
        pipe.type(key)
        pipe.ttl(key)
    answers = pipe.execute()
    rows = [(key, answers[2 * i], _ttl(answers[2 * i + 1])) for i, key in enumerate(shown)]
    echo_rows(["key", "type", "ttl"], rows, more=len(found) > limit)
    click.echo(
        f"{len(found):,} keys match {pattern!r}"
        + (f" ({hidden:,} bookkeeping keys {INDEX_PREFIX}* not shown)" if hidden else "")
    )


def _value(client: redis.Redis, key: str, kind: str) -> Any:
    if kind == "string":
        text = client.get(key)
        try:
            return json.loads(text)
        except (TypeError, ValueError):
            return text
    if kind == "set":
        return sorted(client.smembers(key))
    if kind == "hash":
        return client.hgetall(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    return f"(a {kind}: not shown)"


@cache.command()
@click.argument("key")
def get(key: str) -> None:
    """The value of KEY (JSON pretty-printed), its type and time to live."""
    client = _client()
    kind = client.type(key)
    if kind == "none":
        raise click.ClickException(f"no key {key!r} in the cache (list them with `hubs cache 'PATTERN'`)")
    click.echo(f"{key}  ({kind}, ttl {_ttl(client.ttl(key))})")
    click.echo(json.dumps(_value(client, key, kind), indent=2, ensure_ascii=False, default=str))
