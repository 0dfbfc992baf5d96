{{ config(severity='error', tags=['validation', 'hub6_corporate'],
          meta={'dagster': {'ref': {'name': 'regulatory_filings'}},
                'validation': 'Q6.3', 'description': 'Each active carrier or broker entity has a BOC-3, a UCR for every year of activity, an MCS-150 within 24 months; carriers also a Form 2290 for every tax year begun and an IFTA return for every quarter due since the first trip.'}) }}
{#- Q6.3 Filing validation. As-of is the latest activity in the hubs (greatest of the last
    trip dispatch and load pickup), the activity window runs from the first trip or load to
    it. BOC-3 and UCR count when filed or accepted; MCS-150, Form 2290 and IFTA returns when
    filed, accepted or (filed) late. Required: UCR for every calendar year of the window;
    MCS-150 filed in the 24 months up to as-of; for carriers a Form 2290 for each tax year
    (July 1 - June 30) starting within the window, and an IFTA quarterly return for every
    quarter that ended on or after the first trip and at least 31 days before as-of. One row
    per entity and missing kind, listing the missing periods. -#}
with activity as (
    select greatest((select max(dispatched_at) from {{ ref('trips') }}),
                    (select max(pickup_at) from {{ ref('loads') }}))::date as as_of,
           least((select min(dispatched_at) from {{ ref('trips') }}),
                 (select min(pickup_at) from {{ ref('loads') }}))::date as first_activity,
           (select min(dispatched_at) from {{ ref('trips') }})::date as first_trip
),
entities as (
    select e.entity_code, e.operating_role, a.as_of, a.first_activity, a.first_trip
    from {{ ref('legal_entities') }} as e
    cross join activity as a
    where e.operating_role in ('carrier', 'broker') and e.status = 'active' and a.as_of is not null
),
f as (
    select * from {{ ref('regulatory_filings') }}
),
missing as (
    select 'missing_boc3' as problem, e.entity_code, 'BOC-3' as period
    from entities as e
    where not exists (select 1 from f where f.entity_code = e.entity_code and f.filing_type = 'BOC-3'
                                        and f.status in ('filed', 'accepted'))
    union all
    select 'missing_ucr', e.entity_code, y::int::text
    from entities as e
    cross join generate_series(extract(year from e.first_activity)::int, extract(year from e.as_of)::int) as y
    where not exists (select 1 from f where f.entity_code = e.entity_code and f.filing_type = 'UCR'
                                        and f.status in ('filed', 'accepted')
                                        and f.period_start <= make_date(y, 12, 31) and f.period_end >= make_date(y, 1, 1))
    union all
    select 'mcs150_stale', e.entity_code, format('none filed %s..%s', (e.as_of - interval '24 months')::date, e.as_of)
    from entities as e
    where not exists (select 1 from f where f.entity_code = e.entity_code and f.filing_type = 'MCS-150'
                                        and f.status in ('filed', 'accepted', 'late')
                                        and f.filed_on > (e.as_of - interval '24 months')::date and f.filed_on <= e.as_of)
    union all
    select 'missing_form_2290', e.entity_code, format('%s-%s', y, y + 1)
    from entities as e
    cross join generate_series(extract(year from e.first_activity)::int, extract(year from e.as_of)::int) as y
    where e.operating_role = 'carrier'
      and make_date(y, 7, 1) between e.first_activity and e.as_of
      and not exists (select 1 from f where f.entity_code = e.entity_code and f.filing_type = 'FORM_2290'
                                        and f.status in ('filed', 'accepted', 'late')
                                        and f.period_start = make_date(y, 7, 1))
    union all
    select 'missing_ifta_return', e.entity_code, format('%s-Q%s', extract(year from q.q_start), extract(quarter from q.q_start))
    from entities as e
    cross join lateral (
        select s::date as q_start, (s + interval '3 months' - interval '1 day')::date as q_end
        from generate_series(date_trunc('quarter', e.first_trip::timestamp), e.as_of::timestamp, interval '3 months') as s
    ) as q
    where e.operating_role = 'carrier'
      and q.q_end >= e.first_trip and q.q_end <= e.as_of - 31
      and not exists (select 1 from f where f.entity_code = e.entity_code and f.filing_type = 'IFTA_QUARTERLY'
                                        and f.status in ('filed', 'accepted', 'late')
                                        and f.period_start <= q.q_start and f.period_end >= q.q_end)
)
select problem, entity_code as key, format('%s missing: %s', count(*), string_agg(period, ', ' order by period)) as detail
from missing
group by problem, entity_code
