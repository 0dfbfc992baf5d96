{{ config(severity='error', tags=['validation', 'hub6_corporate'],
          meta={'dagster': {'ref': {'name': 'credentials'}},
                'validation': 'Q6.2', 'description': 'Nothing operated on an expired document: every dispatched trip within an IRP cab card of its unit, an OT auto liability policy and an active OT common authority; every OpenHaul pickup within an OH broker bond and an active OH broker authority.'}) }}
{#- Q6.2 License expiration. A trip (current trip rows with dispatched_at) is dated
    dispatched_at::date, a load (pickup_at set, not cancelled) pickup_at::date. A document
    covers a date when: cab card issued_on <= d <= expires_on; policy valid_from::date <= d <=
    expires_on and not cancelled by d; authority status 'A' with valid_from::date <= d <
    valid_to::date. Aggregated per document kind and unit or entity: the count and the first
    and last uncovered dates (and the first trip or load). -#}
with trips as (
    select trip_number as ref, unit_number, dispatched_at::date as d
    from {{ ref('trips') }}
    where dispatched_at is not null
),
loads as (
    select load_number as ref, pickup_at::date as d
    from {{ ref('loads') }}
    where pickup_at is not null and status <> 'cancelled'
),
policies as (
    select entity_code, coverage, valid_from::date as from_d, expires_on, cancelled_on
    from {{ ref('insurance_policies') }}
),
authorities as (
    select entity_code, authority_type, valid_from::date as from_d, valid_to::date as to_d
    from {{ ref('fmcsa_authorities') }}
    where status = 'A'
),
uncovered as (
    select 'trip_without_cab_card' as problem, t.unit_number as key, t.ref, t.d
    from trips as t
    where not exists (select 1 from {{ ref('credentials') }} as c
                      where c.credential_type = 'IRP_CAB_CARD' and c.unit_number = t.unit_number
                        and c.issued_on <= t.d and t.d <= c.expires_on)
    union all
    select 'trip_without_auto_liability', 'OT', t.ref, t.d
    from trips as t
    where not exists (select 1 from policies as p
                      where p.entity_code = 'OT' and p.coverage = 'auto_liability'
                        and p.from_d <= t.d and t.d <= p.expires_on and (p.cancelled_on is null or t.d < p.cancelled_on))
    union all
    select 'trip_without_common_authority', 'OT', t.ref, t.d
    from trips as t
    where not exists (select 1 from authorities as a
                      where a.entity_code = 'OT' and a.authority_type = 'common'
                        and a.from_d <= t.d and (a.to_d is null or t.d < a.to_d))
    union all
    select 'load_without_broker_bond', 'OH', l.ref, l.d
    from loads as l
    where not exists (select 1 from policies as p
                      where p.entity_code = 'OH' and p.coverage = 'broker_bond'
                        and p.from_d <= l.d and l.d <= p.expires_on and (p.cancelled_on is null or l.d < p.cancelled_on))
    union all
    select 'load_without_broker_authority', 'OH', l.ref, l.d
    from loads as l
    where not exists (select 1 from authorities as a
                      where a.entity_code = 'OH' and a.authority_type = 'broker'
                        and a.from_d <= l.d and (a.to_d is null or l.d < a.to_d))
)
select problem, key,
       format('%s uncovered, %s to %s (first %s)', count(*), min(d), max(d), (array_agg(ref order by d, ref))[1]) as detail
from uncovered
group by problem, key
