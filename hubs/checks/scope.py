"""How much of an entity a store check re-reads: every row, or the rows changed since it last
found them right.

A check that compares every row with the store (X1 re-hashes each one) costs in proportion to the
data. In a refresh it asks only about the rows whose landing sequence moved past the one it last
passed at, per entity and per store (its published generation: a new generation, or a rebuild,
which forgets the store's progress in hubs/sync/state.py, is checked whole again). Counts stay
whole, since they are cheap and catch what went missing anywhere. The full form, every row, is
what migration gates and `hubs check --full` run, and what a check runs the first time.

The marks live in hubs_meta.audit_state (created with hubs_meta.sync_state) and move only when the
entity had no problem, so a problem found once is asked about again until it is fixed.
"""

from __future__ import annotations

from collections.abc import Mapping

from hubs.checks.base import CheckContext
from hubs.sync import state


def audited_since(ctx: CheckContext, check: str, kind: str) -> dict[str, int]:
    """Per entity (model name), the landing sequence up to which `check` found the store right;
    empty when the check runs in full or has never passed."""
    if ctx.full or not _exists(ctx):
        return {}
    rows = ctx.sql(
        'select entity, landing_seq from hubs_meta.audit_state where "check" = %s and store = %s',
        (check, ctx.store(kind).name),
    )
    return dict(rows)


def record_audited(ctx: CheckContext, check: str, kind: str, marks: Mapping[str, int]) -> None:
    """The entities `check` found right, each up to the landing sequence it read."""
    if not marks:
        return
    state.ensure(ctx.conn)  # a database no sync has written to yet has no audit_state either
    store = ctx.store(kind).name
    with ctx.conn.cursor() as cur:
        cur.executemany(
            'insert into hubs_meta.audit_state ("check", store, entity, landing_seq) values (%s, %s, %s, %s)'
            ' on conflict ("check", store, entity) do update set landing_seq = excluded.landing_seq,'
            " audited_at = now()",
            [(check, store, entity, seq) for entity, seq in marks.items()],
        )
    ctx.conn.commit()


def _exists(ctx: CheckContext) -> bool:
    return bool(ctx.sql("select to_regclass('hubs_meta.audit_state') is not null")[0][0])
