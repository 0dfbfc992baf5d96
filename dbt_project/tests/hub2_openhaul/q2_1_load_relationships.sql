{{ config(severity='error', tags=['validation', 'hub2_openhaul'],
          meta={'dagster': {'ref': {'name': 'loads'}},
                'validation': 'Q2.1', 'description': 'Every load has an existing customer and a carrier once past uncovered; stops are numbered 1..n with a pickup first and a delivery last; every load not cancelled has at least two stops.'}) }}
{#- Q2.1 Load relationships. A load without a customer cannot be billed, one without a carrier
    cannot move, and stops out of order send a truck to the wrong dock. One row per offending
    load and problem. -#}
with stops as (
    select load_number, count(*) as n, min(stop_seq) as first_seq, max(stop_seq) as last_seq,
           (array_agg(stop_type order by stop_seq))[1] as first_type,
           (array_agg(stop_type order by stop_seq desc))[1] as last_type
    from {{ ref('load_stops') }}
    group by load_number
)
select 'unknown_customer' as problem, l.load_number as key, l.customer_code as detail
from {{ ref('loads') }} as l
where not exists (select 1 from {{ ref('customers') }} as c where c.customer_code = l.customer_code)
union all
select 'no_carrier', l.load_number, format('status %s without a carrier', l.status)
from {{ ref('loads') }} as l
where l.status not in ('uncovered', 'cancelled') and l.carrier_usdot is null
union all
select 'stops_not_numbered_1_to_n', s.load_number, format('%s stops numbered %s..%s', s.n, s.first_seq, s.last_seq)
from stops as s
where s.first_seq <> 1 or s.last_seq <> s.n
union all
select 'first_stop_not_pickup', s.load_number, format('stop %s is a %s', s.first_seq, s.first_type)
from stops as s
where s.first_type <> 'pickup'
union all
select 'last_stop_not_delivery', s.load_number, format('stop %s is a %s', s.last_seq, s.last_type)
from stops as s
where s.last_type <> 'delivery'
union all
select 'too_few_stops', l.load_number, format('status %s with %s stops', l.status, coalesce(s.n, 0))
from {{ ref('loads') }} as l
left join stops as s on s.load_number = l.load_number
where l.status <> 'cancelled' and coalesce(s.n, 0) < 2
