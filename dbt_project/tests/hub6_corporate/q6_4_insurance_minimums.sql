{{ config(severity='error', tags=['validation', 'hub6_corporate'],
          meta={'dagster': {'ref': {'name': 'insurance_policies'}},
                'validation': 'Q6.4', 'description': 'Auto liability >= $750,000 per occurrence, broker bond >= $75,000; every active carrier entity has a current auto liability policy and every active broker entity a current broker bond as of the as-of date.'}) }}
{#- Q6.4 Insurance minimums (49 CFR 387.9 general freight; 49 CFR 387.307 broker bond). The
    CHECK constraints guard the limits on write; the check keeps guarding if they are relaxed.
    A policy is current as of the as-of date (the latest trip dispatch or load pickup) when its
    version is in force that day, it has not expired and has not been cancelled. One row per
    offending policy or entity. -#}
with as_of as (
    select greatest((select max(dispatched_at) from {{ ref('trips') }}),
                    (select max(pickup_at) from {{ ref('loads') }}))::date as d
),
required as (
    select e.entity_code, case e.operating_role when 'carrier' then 'auto_liability' else 'broker_bond' end as coverage, a.d
    from {{ ref('legal_entities') }} as e
    cross join as_of as a
    where e.operating_role in ('carrier', 'broker') and e.status = 'active' and a.d is not null
)
select 'liability_below_minimum' as problem, insurer_party_id || ':' || policy_number as key,
       format('%s auto liability %s per occurrence', entity_code, per_occurrence_limit) as detail
from {{ ref('insurance_policies') }}
where coverage = 'auto_liability' and per_occurrence_limit < 750000
union all
select 'bond_below_minimum', insurer_party_id || ':' || policy_number,
       format('%s broker bond %s', entity_code, per_occurrence_limit)
from {{ ref('insurance_policies') }}
where coverage = 'broker_bond' and per_occurrence_limit < 75000
union all
select 'no_current_' || r.coverage, r.entity_code, format('no %s policy in force on %s', r.coverage, r.d)
from required as r
where not exists (
    select 1 from {{ ref('insurance_policies') }} as p
    where p.entity_code = r.entity_code and p.coverage = r.coverage
      and p.valid_from::date <= r.d and (p.valid_to is null or r.d < p.valid_to::date)
      and r.d <= p.expires_on and (p.cancelled_on is null or r.d < p.cancelled_on)
)
