{{ config(severity='error', tags=['validation', 'hub3_origin'],
          meta={'dagster': {'ref': {'name': 'driver_assignments'}},
                'validation': 'Q3.1', 'description': 'No tractor seat with two overlapping assignments, no driver on two tractors at once, assignments only to active drivers.'}) }}
{#- Q3.1 Driver assignments. One row per offending assignment. -#}
with a as (
    select *, tstzrange(valid_from, valid_to) as span from {{ ref('driver_assignments') }}
)
select 'seat_overlap' as problem, x.assignment_id::text as key,
       format('unit %s %s seat also held by %s', x.unit_number, x.seat, y.assignment_id) as detail
from a as x join a as y
  on x.unit_number = y.unit_number and x.seat = y.seat and x.assignment_id < y.assignment_id and x.span && y.span
union all
select 'driver_on_two_units', x.assignment_id::text,
       format('driver %s also on unit %s (%s)', x.driver_code, y.unit_number, y.assignment_id)
from a as x join a as y
  on x.driver_code = y.driver_code and x.assignment_id < y.assignment_id and x.span && y.span
union all
select 'driver_not_employed', x.assignment_id::text,
       format('driver %s is %s (hired %s, terminated %s); assignment %s', d.driver_code, d.status,
              d.hire_date, d.termination_date, x.span)
from a as x join {{ ref('drivers') }} as d on d.driver_code = x.driver_code
where (x.valid_to is null and d.status <> 'active')
   or x.valid_from::date < d.hire_date
   or x.valid_from::date > d.termination_date
   or coalesce(x.valid_to, 'infinity') > d.termination_date + interval '1 day'
