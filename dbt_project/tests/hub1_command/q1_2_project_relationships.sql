{{ config(severity='error', tags=['validation', 'hub1_command'],
          meta={'dagster': {'ref': {'name': 'projects'}},
                'validation': 'Q1.2', 'description': 'Every project advances an existing goal and has an existing, active owner.'}) }}
{#- Q1.2 Project relationships. The foreign keys make the first two impossible today; the
    check stays so that a dropped or deferred key cannot hide an orphan. An owner who left the
    group cannot run a project. One row per offending project and problem. -#}
select 'unknown_goal' as problem, p.project_id::text as key, format('%s goal %s', p.code, p.goal_id) as detail
from {{ ref('projects') }} as p
where not exists (select 1 from {{ ref('goals') }} as g where g.goal_id = p.goal_id)
union all
select 'unknown_owner', p.project_id::text, format('%s owner %s', p.code, p.owner_id)
from {{ ref('projects') }} as p
where not exists (select 1 from {{ ref('persons') }} as o where o.person_id = p.owner_id)
union all
select 'owner_inactive', p.project_id::text, format('%s (%s) owned by %s, inactive since %s', p.code, p.status, o.handle, o.ended_on)
from {{ ref('projects') }} as p
join {{ ref('persons') }} as o on o.person_id = p.owner_id
where not o.active
