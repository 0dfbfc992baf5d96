"""The operator's view through the CLI: `hubs up` makes the inbox, `hubs status` says what each
store holds and how far behind PostgreSQL it is (or that the servers are down), `hubs env` has a
value for every variable, the summary shows history, `hubs load` says one line per file with an
exit code to match, and `hubs sql | cypher | cache | vectors` look inside every store.

The commands run in-process (click's CliRunner) against the session's servers, over one small
dataset synced into every store once for the module."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hubs import settings as hubs_settings
from hubs.cli import main
from tests.conftest import StoreBench, free_port, module_bench

STORES = ("graph", "cache", "vectors", "timeline")


def hubs(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    # Whatever went wrong is a message, never a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module", params=["falkordb"])
def synced(
    request: pytest.FixtureRequest, postgres_server: str, stores_template: str, hubs_home: Path
) -> Iterator[StoreBench]:
    """The small dataset in PostgreSQL, synced into all four stores; the stores are closed again
    (the local Qdrant folder admits one client at a time: the CLI's)."""
    from hubs.servers import ensure_running

    with module_bench(request, postgres_server, "op") as bench:
        ensure_running(bench.settings, ["cache"])
        for kind in STORES:
            bench.sync(kind, full=True)
        bench.release()
        yield bench


# -- servers, status, env -------------------------------------------------------------------------


def test_up_creates_the_inbox_and_prints_its_path(synced: StoreBench) -> None:
    inbox = hubs_settings.load().inbox_dir
    shutil.rmtree(inbox, ignore_errors=True)
    result = hubs("up")
    assert result.exit_code == 0, result.output
    assert inbox.is_dir()
    assert f"inbox:       {inbox}" in result.output


def test_status_and_the_look_commands_say_hubs_up_when_the_servers_are_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBS_HOME", str(tmp_path / "nothing-running"))
    for name in ("HUBS_POSTGRES_PORT", "HUBS_REDIS_PORT", "HUBS_FALKORDB_PORT"):
        monkeypatch.setenv(name, str(free_port()))
    for name in ("HUBS_POSTGRES_URL", "HUBS_REDIS_URL", "HUBS_FALKORDB_URL", "HUBS_NEO4J_URI"):
        monkeypatch.delenv(name, raising=False)
    status = hubs("status")
    assert status.exit_code == 0
    assert "the embedded servers are not running (postgres, cache, graph): run `hubs up`" in status.output
    assert "cannot connect" not in status.output and "unreachable" not in status.output
    for args in (["sql", "select 1"], ["cypher", "RETURN 1"], ["cache"], ["cache", "get", "k"]):
        result = hubs(*args)
        assert result.exit_code == 1, args
        [line] = result.output.strip().splitlines()
        assert line.startswith("Error: the embedded server is not running") and line.endswith("run `hubs up`")
    # Looking never starts a server.
    assert not (tmp_path / "nothing-running" / "run").exists()


def test_a_store_that_cannot_be_reached_is_one_line_naming_it_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = "Sp3c-pw-0123"
    port = free_port()  # nothing listens there
    monkeypatch.setenv("HUBS_POSTGRES_URL", f"postgresql://hubs:{password}@127.0.0.1:{port}/hubs")
    monkeypatch.setenv("HUBS_REDIS_URL", f"redis://:{password}@127.0.0.1:{port}/0")
    monkeypatch.setenv("HUBS_FALKORDB_URL", f"redis://:{password}@127.0.0.1:{port}")
    monkeypatch.delenv("HUBS_NEO4J_URI", raising=False)
    expected = {
        "sql": f"Error: cannot connect to PostgreSQL (system of record) at postgresql://hubs:***@127.0.0.1:{port}/hubs:",
        "cypher": f"Error: cannot reach the graph store at redis://:***@127.0.0.1:{port}:",
        "cache": f"Error: cannot reach the cache at redis://:***@127.0.0.1:{port}/0:",
    }
    for command, start in expected.items():
        result = hubs(command, *(["RETURN 1"] if command == "cypher" else ["select 1"] if command == "sql" else []))
        assert result.exit_code == 1
        [line] = result.output.strip().splitlines()
        assert line.startswith(start), line
        assert password not in line and "hubs up" not in line  # an external server is not `hubs up`'s


def store_lines(output: str) -> dict[str, list[str]]:
    """`hubs status`'s derived-store section: the store's lines (what it holds, how far behind)."""
    lines = output.splitlines()
    start = lines.index("derived stores (what each holds; how far behind PostgreSQL):")
    found: dict[str, list[str]] = {}
    for line in lines[start + 1 : start + 1 + 2 * len(STORES)]:
        name = line.split()[0] if not line.startswith("   ") else None
        if name:
            found[name] = [line]
        else:
            found[list(found)[-1]].append(line)
    return found


def test_status_shows_what_each_store_holds_and_how_far_behind_it_is(synced: StoreBench) -> None:
    nodes = synced.sql("select sum(n) from (select count(*) as n from hub3_origin.tractors) t")[0][0]
    assert nodes > 0
    before = synced.sql("select store, entity, landing_seq, deletion_seq from hubs_meta.sync_state order by 1, 2")

    result = hubs("status")
    assert result.exit_code == 0, result.output
    stores = store_lines(result.output)
    assert set(stores) == set(STORES), result.output
    for kind in STORES:
        assert stores[kind][1].strip().startswith("in sync with PostgreSQL (last sync "), stores[kind]
    assert re.search(r"[\d,]+ nodes, [\d,]+ relationships", stores["graph"][0])
    assert re.search(r"[\d,]+ keys", stores["cache"][0])
    assert re.search(r"[\d,]+ documents__wordllama256 points", stores["vectors"][0])
    assert re.search(r"[\d,]+ edges", stores["timeline"][0])

    # The cache forgets it read the tractors: it is behind by every tractor version since.
    versions = synced.sql("select count(*) from hub3_origin.tractors_history")[0][0]
    synced.sql("update hubs_meta.sync_state set landing_seq = 0 where store = 'cache' and entity = 'tractors'")
    stores = store_lines(hubs("status").output)
    assert (
        stores["cache"][1]
        .strip()
        .startswith(f"behind: {versions:,} rows changed in PostgreSQL since its last sync (1 entity;")
    )
    assert stores["cache"][1].endswith("run `hubs sync cache`")
    assert stores["graph"][1].strip().startswith("in sync")
    # Status only reads: the watermarks are as they were (but the one the test moved).
    after = synced.sql("select store, entity, landing_seq, deletion_seq from hubs_meta.sync_state order by 1, 2")
    assert [r for r in after if r[:2] != ("cache", "tractors")] == [r for r in before if r[:2] != ("cache", "tractors")]
    synced.sync("cache")
    assert store_lines(hubs("status").output)["cache"][1].strip().startswith("in sync")


def test_env_shows_a_value_in_effect_for_every_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from hubs.settings import ENVIRONMENT

    for name in ("OPENAI_API_KEY", "HUBS_NEO4J_PASSWORD", "HUBS_EMBEDDER", "HUBS_FAILPOINT"):
        monkeypatch.delenv(name, raising=False)
    shown = {line.split()[0]: line.split(None, 1)[1] for line in hubs("env").output.splitlines()}
    assert set(shown) == {name for name, _ in ENVIRONMENT}
    for name, value in shown.items():
        assert not value.startswith(("- ", "(no default known)")), f"{name} shows no value in effect"
    assert shown["OPENAI_API_KEY"].startswith("(unset: embeddings from the offline wordllama model)")

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    output = hubs("env").output
    assert "sk-test-0123456789abcdef" not in output
    assert re.search(r"OPENAI_API_KEY +\*\*\* ", output) and re.search(r"HUBS_EMBEDDER +openai ", output)


# -- the summary ------------------------------------------------------------------------------------


def test_the_summary_shows_current_rows_and_the_versions_in_history(synced: StoreBench) -> None:
    from hubs.catalog import load_catalog
    from hubs.summary import entity_counts, format_counts

    text = format_counts(entity_counts(hubs_settings.load(), load_catalog()))
    header = text.splitlines()[0].split()
    assert header == ["entity", "landed", "accepted", "quarantined", "current", "versions"]
    current, versions = synced.sql(
        "select (select count(*) from hub3_origin.tractors), (select count(*) from hub3_origin.tractors_history)"
    )[0]
    assert versions > current  # the dataset has tractors that changed: current alone reads like a loss
    [tractors] = [line.split() for line in text.splitlines() if line.strip().startswith("hub3_origin.tractors ")]
    assert tractors[4:] == [f"{current:,}", f"{versions:,}"]
    [persons] = [line.split() for line in text.splitlines() if line.strip().startswith("hub1_command.persons ")]
    assert persons[5] == "-"  # no history table: not a zero
    assert "versions: every version of a versioned entity, in <table>_history" in text


# -- hubs load --------------------------------------------------------------------------------------


def test_load_says_one_line_per_file_and_exits_as_it_says(
    synced: StoreBench, generated: tuple[Path, dict], tmp_path: Path
) -> None:
    shutil.copy(generated[0] / "hub3_origin.trailers.csv", tmp_path / "hub3_origin.trailers.csv")
    (tmp_path / "hub9_nope.things.csv").write_text("id\n1\n")
    (tmp_path / "hub3_orign.tractors.csv").write_text("unit_number\n1\n")
    result = hubs("load", str(tmp_path))
    lines = [re.sub(r"^\s+[\d.]+s  ", "", line) for line in result.output.splitlines()]
    assert "refused  hub9_nope.things.csv: unknown entity hub9_nope.things; no entity is named like it" in "\n".join(
        lines
    )
    assert (
        "refused  hub3_orign.tractors.csv: unknown entity hub3_orign.tractors; did you mean hub3_origin.tractors?"
        in lines
    )
    rows = synced.sql("select rows from landing._files where file_name = 'hub3_origin.trailers.csv' order by 1 desc")
    assert f"loaded   hub3_origin.trailers.csv: {rows[0][0]:,} rows" in lines
    assert not [line for line in lines if "built" in line and "assets built" not in line], result.output
    assert "step land_files done (46 assets built)" in lines
    assert result.exit_code == 1 and lines[-1].startswith("not all landed: the files marked `refused` above")
    assert lines[-1].endswith("exit code 1")
    assert not [line for line in lines if "succeeded" in line]

    again = hubs("load", str(tmp_path / "hub3_origin.trailers.csv"))
    assert again.exit_code == 0, again.output
    assert "skipped  hub3_origin.trailers.csv: already landed as file" in again.output
    assert "exit code" not in again.output and "0 rows" not in again.output


# -- looking inside the stores ---------------------------------------------------------------------


def test_sql_prints_a_table_takes_parameters_and_reads_only(synced: StoreBench) -> None:
    [(unit, status)] = synced.sql("select unit_number, status from hub3_origin.tractors order by 1 limit 1")
    result = hubs(
        "sql", "select unit_number, status from hub3_origin.tractors where unit_number = %(u)s", "-p", f"u={unit}"
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split("|")[0].strip() == "unit_number"
    assert [cell.strip() for cell in result.output.splitlines()[2].split("|")] == [unit, status]
    assert result.output.splitlines()[-1] == "(1 row)"

    delete = hubs("sql", "delete from hub3_origin.tractors")
    assert delete.exit_code == 1
    assert delete.output.strip() == (
        "Error: PostgreSQL: cannot execute DELETE in a read-only transaction"
        " (hubs sql reads only: add --write to change data)"
    )
    assert synced.sql("select count(*) from hub3_origin.tractors")[0][0] > 0
    wrote = hubs("sql", "--write", "create table public.cli_wrote (a int)")
    assert wrote.exit_code == 0 and wrote.output.strip() == "CREATE TABLE"


def test_sql_without_a_query_opens_psql_read_only(synced: StoreBench) -> None:
    import subprocess
    import sys

    count = synced.sql("select count(*) from hub3_origin.tractors")[0][0]
    done = subprocess.run(
        [sys.executable, "-m", "hubs.cli", "sql"],
        input="select count(*) as tractors from hub3_origin.tractors;\ncreate table public.x (a int);\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert re.search(rf"^\s+{count}$", done.stdout, re.MULTILINE), done.stdout + done.stderr
    assert "cannot execute CREATE TABLE in a read-only transaction" in done.stderr
    assert done.returncode != 0


def test_cypher_asks_the_graph_and_the_timeline(synced: StoreBench) -> None:
    [(unit,)] = synced.sql("select unit_number from hub3_origin.tractors order by 1 limit 1")
    result = hubs("cypher", "MATCH (t:Tractor {unit_number: $u}) RETURN t.unit_number, t", "-p", f"u={unit}")
    assert result.exit_code == 0, result.output
    row = result.output.splitlines()[2]
    assert row.startswith(unit) and "(:Tractor {key: " in row

    edges = synced.sql("select count(*) from hub3_origin.tractors_history")[0][0]
    timeline = hubs("cypher", "--timeline", "MATCH ()-[e:RELATES_TO {entity: 'tractors'}]->() RETURN count(e) AS n")
    assert timeline.exit_code == 0, timeline.output
    assert timeline.output.splitlines()[2].strip() == str(edges)

    write = hubs("cypher", "CREATE (:Intruder)")
    assert write.exit_code == 1 and "add --write to change data" in write.output
    assert hubs("cypher", "MATCH (n:Intruder) RETURN count(n)").output.splitlines()[2].strip() == "0"
    bad = hubs("cypher", "MATCH (n RETURN n")
    assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1


def test_cache_lists_keys_with_types_and_ttls_and_shows_a_value(synced: StoreBench) -> None:
    listed = hubs("cache", "lane:*", "--limit", "3")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert [c.strip() for c in lines[0].split("|")] == ["key", "type", "ttl"]
    key, kind, ttl = (c.strip() for c in lines[2].split("|"))
    assert key.startswith("lane:") and kind == "string" and re.fullmatch(r"\d+ s", ttl)
    assert re.fullmatch(r"[\d,]+ keys match 'lane:\*'", lines[-1])
    everything = hubs("cache", "--limit", "100000").output.splitlines()
    # The sync's bookkeeping is not the cache's content: counted, not listed.
    assert not [line for line in everything if line.startswith("hubs:")]
    assert re.search(r"\([\d,]+ bookkeeping keys hubs:index:\* not shown\)$", everything[-1])

    value = hubs("cache", "get", key)
    assert value.exit_code == 0, value.output
    assert value.output.splitlines()[0].startswith(f"{key}  (string, ttl ")
    assert value.output.splitlines()[1] == "{"  # JSON, pretty-printed
    missing = hubs("cache", "get", "no:such:key")
    assert missing.exit_code == 1 and "no key 'no:such:key' in the cache" in missing.output


def test_vectors_lists_collections_and_searches_with_the_sync_model(synced: StoreBench) -> None:
    from hubs.sync.vectors import text_of

    listed = hubs("vectors")
    assert listed.exit_code == 0, listed.output
    rows = {line.split("|")[0].strip(): line for line in listed.output.splitlines()[2:-1]}
    assert "documents__wordllama256" in rows and "current model" in rows["documents__wordllama256"]

    # A row's own text finds that row first: the query is embedded as the sync embedded it.
    from hubs.catalog import load_catalog

    entity = next(e for e in load_catalog().entities if e.table == "insights")
    row = synced.sql(f"select to_jsonb(t) from {entity.schema}.{entity.table} as t order by 1 limit 1")[0][0]
    found = hubs("vectors", "search", text_of(entity, row), "--collection", "insights", "--limit", "3")
    assert found.exit_code == 0, found.output
    first = [c.strip() for c in found.output.splitlines()[2].split("|")]
    assert first[1] == "insights" and first[2] == entity.label and float(first[0]) > 0.99
    missing = hubs("vectors", "search", "x", "--collection", "nope")
    assert missing.exit_code == 1 and "no collection 'nope'" in missing.output


def test_cypher_asks_neo4j_when_it_is_configured_and_only_reads(
    neo4j_uri: str, hubs_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubs.sync.graph.neo4j import Neo4jDialect

    monkeypatch.setenv("HUBS_NEO4J_URI", neo4j_uri)
    monkeypatch.setenv("HUBS_NEO4J_PASSWORD", "")
    dialect = Neo4jDialect(neo4j_uri, "neo4j", "")
    try:
        dialect.run("MERGE (:CliProbe {key: 'k|1', n: 5})")
        found = hubs("cypher", "MATCH (p:CliProbe {key: $k, n: $n}) RETURN p.key, p", "-p", "k=k|1", "-p", "n:=5")
        assert found.exit_code == 0, found.output
        assert found.output.splitlines()[2].startswith("k|1 ") and "(:CliProbe {key: 'k|1', n: 5})" in found.output
        refused = hubs("cypher", "CREATE (:CliProbe {key: 'written'})")
        assert refused.exit_code == 1 and "add --write to change data" in refused.output, refused.output
        assert dialect.run("MATCH (p:CliProbe {key: 'written'}) RETURN count(p)") == [[0]]
    finally:
        dialect.run("MATCH (p:CliProbe) DELETE p")
        dialect.close()
