"""`hubs mcp`: Recall's operations as MCP tools, driven by the official SDK's own client over stdio
(the way an assistant launches it), answering what Memory answers in-process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

from hubs.recall.memory import Memory
from hubs.settings import PROJECT_ROOT
from tests.conftest import free_port
from tests.helpers import query


async def _ask(calls: list[tuple[str, dict[str, Any]]]) -> tuple[set[str], list[Any]]:
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "hubs.recall.mcp"], env=dict(os.environ), cwd=PROJECT_ROOT
    )
    async with Client(server, read_timeout_seconds=60) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        return tools, [await client.call_tool(name, args) for name, args in calls]


def test_the_tools_answer_over_stdio_as_memory_does(db: str) -> None:
    [(unit,)] = query(db, "select unit_number from hub3_origin.tractors order by unit_number limit 1")
    calls = [
        ("get", {"entity": "tractor", "key": unit}),
        ("as_of", {"entity": "Tractor", "key": unit}),
        ("neighbours", {"entity": "hub3_origin.tractors", "key": unit, "types": ["DROVE"]}),
        ("get", {"entity": "tractr", "key": unit}),
        ("neighbours", {"entity": "tractor", "key": unit, "hops": 9}),
        ("context", {"entity": "tractor", "key": unit, "chars": 500}),
        ("search", {"query": "brake", "entities": ["maintenance_order"], "k": 5}),
    ]
    tools, (got, believed, near, unknown, too_far, block, found) = asyncio.run(_ask(calls))
    assert tools == {"get", "as_of", "changes", "neighbours", "context", "search", "navigate", "timeline_search"}
    with Memory() as memory:
        record = memory.get("tractor", unit)
        beliefs = memory.as_of("tractor", unit).beliefs
        drivers = memory.neighbours("tractor", unit, types=["DROVE"], source="postgres")
        by_words = memory.search("brake", entities=["maintenance_order"], k=5, mode="keyword")
    assert not got.is_error and got.structured_content["values"] == record.values
    assert [b["row"]["unit_number"] for b in believed.structured_content["beliefs"]] == [
        b["row"]["unit_number"] for b in beliefs
    ]
    assert sorted(n["key"] for n in near.structured_content["nodes"]) == sorted(n.key for n in drivers.nodes)
    assert unknown.is_error and "did you mean tractor" in unknown.content[0].text
    assert too_far.is_error and "hops must be between 1 and 3" in too_far.content[0].text
    # no vectors synced here: the keyword answer, degraded
    assert [h["key"] for h in found.structured_content["hits"]] == [h.key for h in by_words.hits] != []
    assert found.structured_content["provenance"]["degraded"]
    assert not block.is_error and len(block.structured_content["text"]) <= 500
    assert block.structured_content["text"].startswith(f"# Tractor {unit} ")


async def _list_over_http(url: str, token: str | None) -> set[str]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60) as client,
    ):
        return {t.name for t in (await client.list_tools()).tools}


def _messages(error: BaseException) -> str:
    """Every message in an exception (group), the nested ones too."""
    nested = getattr(error, "exceptions", ())
    return " | ".join([str(error), *(_messages(e) for e in nested)])


def test_over_http_the_tools_want_the_token(db: str) -> None:
    port, token = free_port(), "tok-mcp-5d1c"
    env = dict(os.environ, HUBS_API_TOKEN=token)
    hubs = str(Path(sys.executable).with_name("hubs"))
    refused = subprocess.run([hubs, "mcp", "--http", "--host", "0.0.0.0"], env=dict(os.environ), capture_output=True)
    assert refused.returncode != 0 and b"needs a bearer token: set HUBS_API_TOKEN" in refused.stderr
    server = subprocess.Popen(
        [hubs, "mcp", "--http", "--port", str(port)], env=env, cwd=PROJECT_ROOT, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                anonymous = httpx.post(url, json={}, timeout=5)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and server.poll() is None, "hubs mcp --http did not listen"
                time.sleep(0.3)
        assert anonymous.status_code == 401 and "bearer token is required" in anonymous.json()["error"]
        assert asyncio.run(_list_over_http(url, token)) >= {"get", "as_of", "changes", "neighbours", "context"}
        with pytest.raises(BaseException) as wrong:
            asyncio.run(_list_over_http(url, "wrong-token"))
        assert "Server returned an error response" in _messages(wrong.value)  # the SDK's words for the 401
        assert httpx.post(url, json={}, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    assert token.encode() not in log
