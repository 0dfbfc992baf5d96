-- depends_on: {{ ref('meeting_notes') }}
-- depends_on: {{ ref('goals') }}
-- depends_on: {{ ref('persons') }}
-- depends_on: {{ ref('tasks') }}
{{ hubs_stage('hub1_command', 'insights') }}
