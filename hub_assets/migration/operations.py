"""What an operator does between the phases, as jobs in the Dagster UI (the same as `hubs migrate
approve N` and `hubs migrate rollback N`): they write no asset, so they are op jobs."""

from dagster import Config, Failure, OpExecutionContext, job, op

from hub_assets.pools import POSTGRES_WRITERS
from hubs.migrate.phases import PhaseBlocked, approve, roll_back
from resources import PostgresResource

APPROVE_JOB = "migrate_approve"
ROLLBACK_JOB = "migrate_rollback"


class ApprovalConfig(Config):
    phase: int
    """The phase whose latest go is approved (HUBS_MIGRATION_APPROVALS names the phases that need it)."""
    by: str
    """Who approves (recorded with the gate)."""


class RollbackConfig(Config):
    phase: int
    """The phase to roll back: 2-5 switch their store to the generation before; 1 restores the
    record as it was before its last run, with the later phases that read it."""


@op(name="approve_phase")
def approve_phase(context: OpExecutionContext, config: ApprovalConfig, postgres: PostgresResource) -> None:
    conn = postgres.connect()
    try:
        gate = approve(conn, config.phase, config.by)
    except PhaseBlocked as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
    finally:
        conn.close()
    context.log.info(f"phase {config.phase}'s go ({gate.decided_at:%Y-%m-%d %H:%M:%S}) approved by {gate.approved_by}")


# Rolling back phase 1 rewrites the record: it waits for the writers' pool like a dbt build does.
@op(name="roll_back_phase", pool=POSTGRES_WRITERS)
def roll_back_phase(context: OpExecutionContext, config: RollbackConfig, postgres: PostgresResource) -> None:
    conn = postgres.connect()
    try:
        done = roll_back(conn, postgres.settings(), config.phase)
    except PhaseBlocked as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
    finally:
        conn.close()
    for line in done.done_lines():
        context.log.info(line)
    for line in done.stale_lines():
        context.log.warning(line)


@job(name=APPROVE_JOB, description="Migration: approve a phase's go (`hubs migrate approve N`).")
def approve_job() -> None:
    approve_phase()


@job(name=ROLLBACK_JOB, description="Migration: roll a phase back (`hubs migrate rollback N`).")
def rollback_job() -> None:
    roll_back_phase()
