"""What a refresh has to build: the landing tables that received rows their readers have not read.

Every reader of a landing table keeps how far it has read, by landing sequence: its staging
model (its own newest row), the hub model and history model built from that staging model
(hubs_meta.watermarks, advanced by their post-hook) and the delete pass (`deletions:<landing>`).
A landing table is pending when its newest row lies past any of them, or a reader was never
built. Deciding that costs one index lookup per table, so a refresh with nothing new skips dbt
altogether, and one with a few new files builds only the models that read them.

The decision is read from the database, not from what Dagster last ran, so a build that died
halfway is simply pending again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

from hub_assets.dbt.translator import LANDING_SOURCE, LEGACY_TAG
from hubs.landing.schema import record_fingerprint, recorded_fingerprint

DELETE_PASS = "hub_deletions"
#: hubs_meta.schema_state's part holding the fingerprint of the dbt project last built whole
PROJECT_PART = "dbt_project"


@dataclass(frozen=True)
class Feed:
    """One landing table and the models that read it."""

    landing: tuple[str, str]  # (schema, table)
    staging: str  # the staging model's unique id
    readers: tuple[str, ...]  # unique ids of the models built from the staging model


@dataclass(frozen=True)
class Pending:
    """The staging models whose landing table is ahead of a reader, with why."""

    reasons: Mapping[str, str]  # staging unique id -> reason
    feeds: tuple[Feed, ...]

    @property
    def nothing(self) -> bool:
        return not self.reasons

    @property
    def everything(self) -> bool:
        return len(self.reasons) == len(self.feeds)

    def models(self) -> list[str]:
        """The unique ids dbt builds: the delete pass, then each pending staging model and its readers."""
        chosen = [f for f in self.feeds if f.staging in self.reasons]
        return [f"model.hubs.{DELETE_PASS}"] + [uid for f in chosen for uid in (f.staging, *f.readers)]


def _relation(node: Mapping[str, Any]) -> tuple[str, str]:
    return node["schema"], node.get("alias") or node["name"]


def feeds(manifest: Mapping[str, Any]) -> tuple[Feed, ...]:
    """The landing -> staging -> hub chains of the refresh's models (legacy models excluded)."""
    nodes = manifest["nodes"]
    found = []
    for uid, node in nodes.items():
        if node["resource_type"] != "model" or LEGACY_TAG in node.get("tags", ()):
            continue
        landing = [
            manifest["sources"][dep]
            for dep in node["depends_on"]["nodes"]
            if dep.startswith("source.") and manifest["sources"][dep]["source_name"] == LANDING_SOURCE
        ]
        if not landing or node["name"] == DELETE_PASS:
            continue
        readers = tuple(
            child
            for child in manifest["child_map"].get(uid, ())
            if child in nodes and nodes[child]["resource_type"] == "model"
        )
        found.append(Feed(_relation(landing[0]), uid, readers))
    return tuple(sorted(found, key=lambda f: f.staging))


def _key(schema: str, table: str) -> str:
    """A relation's key in hubs_meta.watermarks (the macro hubs_watermark_key)."""
    return f"{schema}.{table}"


def pending(conn: Any, manifest: Mapping[str, Any]) -> Pending:
    """Which landing tables a refresh must build from, read in one query."""
    all_feeds = feeds(manifest)
    nodes = manifest["nodes"]
    with conn.cursor() as cur:
        relations = {f.landing for f in all_feeds} | {_relation(nodes[f.staging]) for f in all_feeds}
        cur.execute(
            "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'p')"
            " and (n.nspname, c.relname) in (select * from unnest(%s::text[], %s::text[]))",
            ([s for s, _ in relations], [t for _, t in relations]),
        )
        existing = set(cur.fetchall())
        cur.execute("select to_regclass('hubs_meta.watermarks') is not null")
        has_watermarks = cur.fetchone()[0]
    reasons: dict[str, str] = {}
    probes = []
    for f in all_feeds:
        staging = _relation(nodes[f.staging])
        if f.landing not in existing:
            continue  # nothing can have landed: no table to land into yet
        if staging not in existing or not has_watermarks:
            reasons[f.staging] = "not built yet"
            continue
        marks = [f"deletions:{_key(*f.landing)}"] + [_key(*_relation(nodes[r])) for r in f.readers]
        probes.append((f, staging, marks))
    if probes:
        parts = [
            sql.SQL(
                "select {uid}, (select coalesce(max(_landing_seq), 0) from {landing}),"
                " (select coalesce(max(_landing_seq), 0) from {staging}),"
                " (select count(*) from hubs_meta.watermarks w where w.relation = any({marks})),"
                " (select min(w.landing_seq) from hubs_meta.watermarks w where w.relation = any({marks}))"
            ).format(
                uid=sql.Literal(f.staging),
                landing=sql.Identifier(*f.landing),
                staging=sql.Identifier(*staging),
                marks=sql.Literal(marks),
            )
            for f, staging, marks in probes
        ]
        expected = {f.staging: len(marks) for f, _, marks in probes}
        with conn.cursor() as cur:
            cur.execute(sql.SQL(" union all ").join(parts))
            for uid, landed, staged, marked, lowest in cur.fetchall():
                if landed > staged:
                    reasons[uid] = f"rows landed past sequence {staged}"
                elif landed > 0 and (marked < expected[uid] or lowest < landed):
                    # staged but not (all) read: a build that stopped between staging and the hubs
                    reasons[uid] = f"staged rows not yet read past sequence {lowest or 0}"
    return Pending(reasons, all_feeds)


def project_fingerprint(manifest: Mapping[str, Any]) -> str:
    """What a build's result depends on besides the data: every refresh model's and test's SQL,
    config and contract, and the project's macros. When it changes (a model edited, a test or an
    entity added, a macro fixed), a refresh builds everything once, as dbt would."""
    nodes = {
        uid: [node.get("checksum"), node.get("config"), node.get("columns"), node.get("constraints")]
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "test", "seed") and LEGACY_TAG not in node.get("tags", ())
    }
    macros = {uid: m.get("macro_sql") for uid, m in manifest["macros"].items() if m.get("package_name") == "hubs"}
    blob = json.dumps({"nodes": nodes, "macros": macros}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def built_fingerprint(conn: Any) -> str | None:
    """The fingerprint of the project a refresh last built whole (None: never)."""
    with conn.cursor() as cur:
        found = recorded_fingerprint(cur, PROJECT_PART)
    conn.commit()
    return found


def record_built(conn: Any, fingerprint: str) -> None:
    """A whole build of this project succeeded."""
    with conn.cursor() as cur:
        record_fingerprint(cur, PROJECT_PART, fingerprint)
    conn.commit()
