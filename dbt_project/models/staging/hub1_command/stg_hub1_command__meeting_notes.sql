-- depends_on: {{ ref('persons') }}
-- depends_on: {{ ref('projects') }}
-- depends_on: {{ ref('legal_entities') }}
{{ hubs_stage('hub1_command', 'meeting_notes') }}
