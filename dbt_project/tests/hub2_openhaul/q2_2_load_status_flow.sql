{{ config(severity='error', tags=['validation', 'hub2_openhaul'],
          meta={'dagster': {'ref': {'name': 'loads'}},
                'validation': 'Q2.2', 'description': 'pickup_at <= delivery_at; delivered loads have delivered_at; check calls never go back a stage (pickup, transit, delivery) and none comes more than a day after delivery.'}) }}
{#- Q2.2 Load status flow. Check calls are X12 214 status codes; grouped into stages 1 pickup
    (X3 AF CP L1 X8), 2 in transit (X6 X2 AG A7 A9 CA) and 3 delivery (X1 X5 D1), a load's calls
    in reported_at order never go back a stage (calls reported at the same instant are taken in
    stage order). One row per offending load and problem. -#}
with calls as (
    select c.load_number, c.reported_at, c.status_code,
           case when c.status_code in ('X3', 'AF', 'CP', 'L1', 'X8') then 1
                when c.status_code in ('X6', 'X2', 'AG', 'A7', 'A9', 'CA') then 2
                when c.status_code in ('X1', 'X5', 'D1') then 3 end as stage
    from {{ ref('check_calls') }} as c
),
ordered as (
    select *, max(stage) over (partition by load_number order by reported_at, stage
                               rows between unbounded preceding and 1 preceding) as stage_before
    from calls
)
select 'delivery_before_pickup' as problem, load_number as key, format('pickup %s, delivery %s', pickup_at, delivery_at) as detail
from {{ ref('loads') }}
where pickup_at > delivery_at
union all
select 'delivered_without_delivered_at', load_number, 'status delivered, delivered_at NULL'
from {{ ref('loads') }}
where status = 'delivered' and delivered_at is null
union all
select 'check_calls_out_of_order', load_number,
       format('%s calls go back a stage, first %s', count(*),
              (array_agg(format('%s (stage %s) at %s after stage %s', status_code, stage, reported_at, stage_before)
                         order by reported_at))[1])
from ordered
where stage < stage_before
group by load_number
union all
select 'check_call_after_delivery', c.load_number,
       format('%s calls after delivery at %s, last %s', count(*), l.delivered_at, max(c.reported_at))
from calls as c
join {{ ref('loads') }} as l on l.load_number = c.load_number
where c.reported_at > l.delivered_at + interval '1 day'
group by c.load_number, l.delivered_at
