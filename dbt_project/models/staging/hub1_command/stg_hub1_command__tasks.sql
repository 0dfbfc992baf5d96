-- depends_on: {{ ref('persons') }}
-- depends_on: {{ ref('projects') }}
-- depends_on: {{ ref('decisions') }}
-- depends_on: {{ ref('meeting_notes') }}
{{ hubs_stage('hub1_command', 'tasks') }}
