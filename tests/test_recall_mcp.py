"""`hubs mcp`: Recall's operations as MCP tools, driven by the official SDK's own client over stdio
(the way an assistant launches it), answering what Memory answers in-process."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters

from hubs.recall.memory import Memory
from hubs.settings import PROJECT_ROOT
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
    ]
    tools, (got, believed, near, unknown, too_far) = asyncio.run(_ask(calls))
    assert tools == {"get", "as_of", "changes", "neighbours", "timeline_search"}
    with Memory() as memory:
        record = memory.get("tractor", unit)
        beliefs = memory.as_of("tractor", unit).beliefs
        drivers = memory.neighbours("tractor", unit, types=["DROVE"], source="postgres")
    assert not got.is_error and got.structured_content["values"] == record.values
    assert [b["row"]["unit_number"] for b in believed.structured_content["beliefs"]] == [
        b["row"]["unit_number"] for b in beliefs
    ]
    assert sorted(n["key"] for n in near.structured_content["nodes"]) == sorted(n.key for n in drivers.nodes)
    assert unknown.is_error and "did you mean tractor" in unknown.content[0].text
    assert too_far.is_error and "hops must be between 1 and 3" in too_far.content[0].text
