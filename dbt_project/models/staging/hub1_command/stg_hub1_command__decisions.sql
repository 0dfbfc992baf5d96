-- depends_on: {{ ref('projects') }}
-- depends_on: {{ ref('meeting_notes') }}
-- depends_on: {{ ref('persons') }}
{{ hubs_stage('hub1_command', 'decisions') }}
