"""`hubs serve` and `hubs mcp`: Recall's HTTP API (hubs/recall/http.py) and its MCP tools
(hubs/recall/mcp.py) on the embedded default or the stores the settings name. They start no
server of their own: a store that is down is answered around."""

from __future__ import annotations

import click

from hubs.cli.app import main

DEFAULT_PORT = 8765


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the read API over HTTP (OpenAPI docs at /docs).

    \b
    hubs serve
    curl -s localhost:8765/entities/tractor/6501
    curl -s 'localhost:8765/entities/tractor/6501/neighbours?type=DROVE&at=2025-03-01T10:00:00Z'

    Beyond loopback (--host 0.0.0.0) it needs HUBS_API_TOKEN, which clients then send as
    `Authorization: Bearer <token>`; on loopback the token is asked for only when it is set.
    """
    import uvicorn

    from hubs.recall.http import create_app
    from hubs.recall.tokens import token_for

    try:
        token = token_for(host)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"recall on http://{host}:{port} (docs at /docs){'; bearer token required' if token else ''}")
    uvicorn.run(create_app(token=token), host=host, port=port, log_level="info")


@main.command()
@click.option("--http", "over_http", is_flag=True, help="Streamable HTTP (at /mcp) instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (with --http).")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT + 1, show_default=True)
def mcp(over_http: bool, host: str, port: int) -> None:
    """Serve the read API as Model Context Protocol tools (get, as_of, changes, neighbours, search,
    timeline_search, navigate, context).

    \b
    hubs mcp                  # stdio: what an assistant launches as its command
    hubs mcp --http           # streamable HTTP on 127.0.0.1:8766/mcp

    Over HTTP the token rule of `hubs serve` holds: HUBS_API_TOKEN, when set, is required as
    `Authorization: Bearer <token>`, and listening beyond loopback needs it.
    """
    from hubs.recall.mcp import create_server, http_app
    from hubs.recall.tokens import token_for

    server = create_server()
    if not over_http:
        server.run("stdio")
        return
    import uvicorn

    try:
        token = token_for(host)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    guarded = "; bearer token required" if token else ""
    click.echo(f"MCP (streamable HTTP) on http://{host}:{port}/mcp{guarded}", err=True)
    uvicorn.run(http_app(server, token, host), host=host, port=port, log_level="info")
