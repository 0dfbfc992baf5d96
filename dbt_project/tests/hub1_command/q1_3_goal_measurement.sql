{{ config(severity='error', tags=['validation', 'hub1_command'],
          meta={'dagster': {'ref': {'name': 'goals'}},
                'validation': 'Q1.3', 'description': 'Goals have metric, unit, baseline and target; percentages within 0-100; measured once started; child goals roll up to a parent of the same or a longer, containing period.'}) }}
{#- Q1.3 Goal measurement, on current goal versions. A goal that cannot be measured cannot be
    steered; a child goal must roll up into a parent period that contains it ('2025-Q3' into
    '2025-Q3' or '2025'; '2025' only into '2025'). One row per offending goal and problem. -#}
with g as (
    select * from {{ ref('goals') }}
)
select 'missing_measure' as problem, goal_id::text as key,
       format('metric %s, unit %s, baseline %s, target %s', coalesce(metric, 'NULL'), coalesce(unit, 'NULL'),
              coalesce(baseline::text, 'NULL'), coalesce(target::text, 'NULL')) as detail
from g
where metric is null or unit is null or baseline is null or target is null
union all
select 'pct_out_of_range', goal_id::text, format('current %s, target %s (pct)', current, target)
from g
where unit = 'pct' and (current not between 0 and 100 or target not between 0 and 100)
union all
select 'unmeasured', goal_id::text, format('status %s without a current value', status)
from g
where status <> 'not_started' and current is null
union all
select 'unknown_parent', c.goal_id::text, format('parent %s', c.parent_goal_id)
from g as c
where c.parent_goal_id is not null and not exists (select 1 from g as p where p.goal_id = c.parent_goal_id)
union all
select 'parent_period_mismatch', c.goal_id::text, format('period %s rolls up to %s (%s)', c.period, p.period, p.goal_id)
from g as c
join g as p on p.goal_id = c.parent_goal_id
where not (p.period = c.period or (c.period ~ '^\d{4}-Q[1-4]$' and p.period = left(c.period, 4)))
