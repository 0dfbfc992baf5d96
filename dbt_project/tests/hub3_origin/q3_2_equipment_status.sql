{{ config(severity='error', tags=['validation', 'hub3_origin'],
          meta={'dagster': {'ref': {'name': 'tractors'}},
                'validation': 'Q3.2', 'description': 'Status in domain; sold units have no open assignment; units in maintenance have an open maintenance order.'}) }}
{#- Q3.2 Equipment status. One row per offending unit. -#}
select 'unknown_status' as problem, unit_number as key, status as detail
from {{ ref('tractors') }}
where status not in ('active', 'maintenance', 'out_of_service', 'sold')
union all
select 'sold_with_open_assignment', t.unit_number,
       format('sold %s, assignment %s runs to %s', t.valid_from, a.assignment_id, coalesce(a.valid_to::text, 'open'))
from {{ ref('tractors') }} as t
join {{ ref('driver_assignments') }} as a
  on a.unit_number = t.unit_number and coalesce(a.valid_to, 'infinity') > t.valid_from
where t.status = 'sold'
union all
select 'maintenance_without_open_order', t.unit_number, format('in maintenance since %s', t.valid_from)
from {{ ref('tractors') }} as t
where t.status = 'maintenance'
  and not exists (select 1 from {{ ref('maintenance_orders') }} as m
                  where m.unit_number = t.unit_number and m.status in ('open', 'in_progress', 'blocked'))
