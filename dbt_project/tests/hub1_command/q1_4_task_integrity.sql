{{ config(severity='error', tags=['validation', 'hub1_command'],
          meta={'dagster': {'ref': {'name': 'tasks'}},
                'validation': 'Q1.4', 'description': 'A task is done exactly when completed_at is set, completes after it started, and its project and decision exist.'}) }}
{#- Q1.4 Task integrity. The CHECK and foreign keys guard most of this on write; the check
    keeps guarding if they are ever relaxed. One row per offending task and problem. -#}
select 'done_without_completed_at' as problem, task_id::text as key, format('status %s', status) as detail
from {{ ref('tasks') }}
where status = 'done' and completed_at is null
union all
select 'completed_but_not_done', task_id::text, format('status %s, completed %s', status, completed_at)
from {{ ref('tasks') }}
where status <> 'done' and completed_at is not null
union all
select 'completed_before_started', task_id::text, format('started %s, completed %s', started_at, completed_at)
from {{ ref('tasks') }}
where completed_at < started_at
union all
select 'unknown_project', t.task_id::text, t.project_id::text
from {{ ref('tasks') }} as t
where t.project_id is not null
  and not exists (select 1 from {{ ref('projects') }} as p where p.project_id = t.project_id)
union all
select 'unknown_decision', t.task_id::text, t.decision_id::text
from {{ ref('tasks') }} as t
where t.decision_id is not null
  and not exists (select 1 from {{ ref('decisions') }} as d where d.decision_id = t.decision_id)
