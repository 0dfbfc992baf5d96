{{ config(severity='error', tags=['validation', 'hub1_command'],
          meta={'dagster': {'ref': {'name': 'decisions'}},
                'validation': 'Q1.5', 'description': 'A decision is superseded exactly when it names a successor, which exists, was decided on or after it, and the supersession chain has no cycles.'}) }}
{#- Q1.5 Decision chain, on current decision versions. Following superseded_by must lead to the
    decision in force, so the chain may only move forward in time and must end. One row per
    offending decision and problem. -#}
with recursive d as (
    select * from {{ ref('decisions') }}
),
walk (start_id, next_id, seen) as (
    -- From each decision, follow superseded_by; stop when a decision repeats.
    select decision_id, superseded_by, array[decision_id]
    from d
    where superseded_by is not null
    union all
    select w.start_id, s.superseded_by, w.seen || s.decision_id
    from walk as w
    join d as s on s.decision_id = w.next_id
    where s.superseded_by is not null and not s.decision_id = any(w.seen)
)
select 'superseded_without_successor' as problem, decision_id::text as key, 'status superseded, superseded_by NULL' as detail
from d
where status = 'superseded' and superseded_by is null
union all
select 'successor_but_not_superseded', decision_id::text, format('status %s, superseded_by %s', status, superseded_by)
from d
where status <> 'superseded' and superseded_by is not null
union all
select 'unknown_successor', x.decision_id::text, x.superseded_by::text
from d as x
where x.superseded_by is not null and not exists (select 1 from d as s where s.decision_id = x.superseded_by)
union all
select 'successor_decided_earlier', x.decision_id::text,
       format('decided %s, superseded by %s decided %s', x.decided_on, s.decision_id, s.decided_on)
from d as x
join d as s on s.decision_id = x.superseded_by
where s.decided_on < x.decided_on
union all
select 'supersession_cycle', w.start_id::text, format('cycle of %s decisions', cardinality(w.seen))
from walk as w
where w.next_id = w.start_id
