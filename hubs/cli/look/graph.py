"""`hubs cypher QUERY`: the graph replica (or, with --timeline, Graphiti's timeline graph) on
whichever server is configured, FalkorDB or Neo4j. Read-only unless --write: FalkorDB runs it
as GRAPH.RO_QUERY, Neo4j in a read transaction."""

from __future__ import annotations

from typing import Any

import click

from hubs import settings as hubs_settings
from hubs.cli.app import main, require_servers, up_hint
from hubs.cli.look.table import echo_rows, parse_params, query_options
from hubs.secrets import redact, scrub
from hubs.settings import Settings
from hubs.sync.graph.falkordb import GRAPH
from hubs.sync.stores import TIMELINE_GRAPH


def render(value: Any) -> Any:
    """A node, relationship or path of either driver as Cypher-like text; other values as they are."""
    if isinstance(value, list):
        return [render(v) for v in value]
    labels = getattr(value, "labels", None)
    if labels is not None and (hasattr(value, "properties") or hasattr(value, "element_id")):  # a node
        props = value.properties if hasattr(value, "properties") else dict(value.items())
        return f"(:{':'.join(sorted(labels))} {_props(props)})"
    rel_type = getattr(value, "relation", None) or (
        getattr(value, "type", None) if hasattr(value, "start_node") else None
    )
    if rel_type is not None:  # a relationship (FalkorDB Edge or Neo4j Relationship)
        props = value.properties if hasattr(value, "properties") else dict(value.items())
        return f"[:{rel_type} {_props(props)}]"
    if hasattr(value, "nodes") and hasattr(value, "relationships"):  # a Neo4j path
        return " ".join(str(render(n)) for n in value.nodes)
    return value


def _props(props: dict[str, Any]) -> str:
    # The key first: it is what a reader looks for, and a long node is cut after a few properties.
    ordered = sorted(props.items(), key=lambda item: (item[0] != "key", item[0]))
    return "{" + ", ".join(f"{k}: {v!r}" for k, v in ordered) + "}"


def _falkordb(settings: Settings, graph: str, query: str, params: dict, write: bool) -> tuple[list[str], list]:
    import redis
    from falkordb import FalkorDB

    url = settings.effective_falkordb_url
    try:
        db = FalkorDB.from_url(url)
        db.connection.ping()
    except (redis.ConnectionError, redis.AuthenticationError, OSError) as exc:
        raise click.ClickException(
            f"cannot reach the graph store at {redact(url)}: {scrub(str(exc), extra=[url])}{up_hint(settings, 'graph')}"
        ) from None
    try:
        selected = db.select_graph(graph)
        result = (selected.query if write else selected.ro_query)(query, params)
    except redis.ResponseError as exc:
        hint = " (hubs cypher reads only: add --write to change data)" if "read-only queries" in str(exc) else ""
        raise click.ClickException(f"FalkorDB (graph '{graph}'): {scrub(str(exc))}{hint}") from None
    finally:
        db.connection.close()
    if not result.header:
        return [], []
    return [name for _, name in result.header], result.result_set


def _neo4j(settings: Settings, query: str, params: dict, write: bool) -> tuple[list[str], list]:
    from neo4j import READ_ACCESS, WRITE_ACCESS, GraphDatabase
    from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable

    uri = settings.neo4j_uri or ""
    driver = GraphDatabase.driver(uri, auth=(settings.neo4j_user, settings.neo4j_password or ""))
    try:
        with driver.session(default_access_mode=WRITE_ACCESS if write else READ_ACCESS) as session:
            result = session.run(query, params)
            keys = list(result.keys())
            return keys, [list(record.values()) for record in result]
    except (ServiceUnavailable, AuthError, OSError) as exc:
        raise click.ClickException(f"cannot reach the graph store at {redact(uri)}: {scrub(str(exc))}") from None
    except Neo4jError as exc:
        hint = " (hubs cypher reads only: add --write to change data)" if "read access mode" in str(exc) else ""
        raise click.ClickException(f"Neo4j: {scrub(exc.message or str(exc))}{hint}") from None
    finally:
        driver.close()


@main.command()
@click.argument("query")
@query_options("$NAME", "read-only")
@click.option("--timeline", is_flag=True, help="Graphiti's timeline graph instead of the replica.")
def cypher(query: str, params: tuple[str, ...], timeline: bool, write: bool, limit: int) -> None:
    """Ask the graph store in Cypher (FalkorDB or Neo4j, whichever is configured).

    \b
    hubs cypher 'MATCH (t:Tractor) RETURN t.unit_number, t.status LIMIT 5'
    hubs cypher 'MATCH (d:Driver {key: $k})-[r:DROVE]->(t) RETURN t.key, r.valid_from' -p k=D-0001
    hubs cypher --timeline 'MATCH ()-[e:RELATES_TO]->() RETURN e.fact LIMIT 5'
    """
    settings = hubs_settings.load()
    values = parse_params(params)
    if settings.neo4j_uri:
        # Neo4j Community has one database: the timeline's nodes (Entity, Episodic) share it.
        headers, rows = _neo4j(settings, query, values, write)
    else:
        require_servers(settings, ["graph"])
        headers, rows = _falkordb(settings, TIMELINE_GRAPH if timeline else GRAPH, query, values, write)
    echo_rows(headers, [[render(v) for v in row] for row in rows[:limit]], more=len(rows) > limit)
