-- depends_on: {{ ref('legal_entities') }}
-- depends_on: {{ ref('persons') }}
{{ hubs_stage('hub1_command', 'goals') }}
