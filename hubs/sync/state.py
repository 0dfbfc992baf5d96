"""How far each store has read each entity's changes (hubs_meta.sync_state).

A store advances its watermark only after its own write succeeded, so a store that was down
or failed mid-run simply reads the same changes again next time (every write is idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extensions import connection as Connection

DDL = """
create schema if not exists hubs_meta;
create table if not exists hubs_meta.sync_state (
    store text not null,
    entity text not null,
    landing_seq bigint not null default 0,
    deletion_seq bigint not null default 0,
    synced_at timestamptz not null default now(),
    primary key (store, entity)
);
comment on table hubs_meta.sync_state is 'How far each derived store has applied each hub table''s changes.';
create table if not exists hubs_meta.audit_state (
    "check" text not null,
    store text not null,
    entity text not null,
    landing_seq bigint not null,
    audited_at timestamptz not null default now(),
    primary key ("check", store, entity)
);
comment on table hubs_meta.audit_state is
    'How far a store check has found each hub table''s rows right in a store (hubs/checks/scope.py).';
"""


@dataclass
class Watermark:
    landing_seq: int = 0
    deletion_seq: int = 0


def ensure(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute(DDL)
    conn.commit()


def read(conn: Connection, store: str, entity: str) -> Watermark:
    with conn.cursor() as cur:
        cur.execute(
            "select landing_seq, deletion_seq from hubs_meta.sync_state where store = %s and entity = %s",
            (store, entity),
        )
        row = cur.fetchone()
    return Watermark(*row) if row else Watermark()


def read_all(conn: Connection) -> dict[tuple[str, str], tuple[Watermark, datetime]]:
    """Every store's watermark of every entity, with when it last moved (read-only: no table
    yet means no progress)."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('hubs_meta.sync_state') is not null")
        if not cur.fetchone()[0]:
            return {}
        cur.execute("select store, entity, landing_seq, deletion_seq, synced_at from hubs_meta.sync_state")
        return {(store, entity): (Watermark(seq, dseq), at) for store, entity, seq, dseq, at in cur.fetchall()}


def write(conn: Connection, store: str, entity: str, mark: Watermark) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "insert into hubs_meta.sync_state (store, entity, landing_seq, deletion_seq) values (%s, %s, %s, %s)"
            " on conflict (store, entity) do update set landing_seq = excluded.landing_seq,"
            " deletion_seq = excluded.deletion_seq, synced_at = now()",
            (store, entity, mark.landing_seq, mark.deletion_seq),
        )
    conn.commit()


def reset(conn: Connection, store: str, entities: list[str] | None = None) -> None:
    """Forget a store's progress (of these entities, or all): its next sync reads them whole
    (the rebuild path). Not committed: the caller commits it with what it records alongside."""
    with conn.cursor() as cur:
        audits = _has_audits(cur)
        # what a check found right was found in what a rebuild replaces
        tables = ["sync_state", "audit_state"] if audits else ["sync_state"]
        for table in tables:
            if entities is None:
                cur.execute(f"delete from hubs_meta.{table} where store = %s", (store,))
            else:
                cur.execute(f"delete from hubs_meta.{table} where store = %s and entity = any(%s)", (store, entities))


def _has_audits(cur: Any) -> bool:
    cur.execute("select to_regclass('hubs_meta.audit_state') is not null")
    return bool(cur.fetchone()[0])


def any_progress(conn: Connection, store: str) -> bool:
    """Whether the store has synced anything yet (some entity has a watermark)."""
    with conn.cursor() as cur:
        cur.execute("select exists (select 1 from hubs_meta.sync_state where store = %s)", (store,))
        [found] = cur.fetchone()
    conn.commit()
    return bool(found)


def copy(conn: Connection, source: str, target: str) -> None:
    """Give store `target` the watermarks of `source` (a generation seeded as a copy of another
    holds what it held). Not committed: the caller commits it with the copy's other bookkeeping."""
    with conn.cursor() as cur:
        cur.execute("delete from hubs_meta.sync_state where store = %s", (target,))
        cur.execute(
            "insert into hubs_meta.sync_state (store, entity, landing_seq, deletion_seq, synced_at)"
            " select %s, entity, landing_seq, deletion_seq, synced_at from hubs_meta.sync_state where store = %s",
            (target, source),
        )
        if _has_audits(cur):
            cur.execute("delete from hubs_meta.audit_state where store = %s", (target,))
            cur.execute(
                'insert into hubs_meta.audit_state ("check", store, entity, landing_seq, audited_at)'
                ' select "check", %s, entity, landing_seq, audited_at from hubs_meta.audit_state where store = %s',
                (target, source),
            )
