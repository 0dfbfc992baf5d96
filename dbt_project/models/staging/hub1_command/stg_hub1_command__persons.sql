-- depends_on: {{ ref('parties') }}
-- depends_on: {{ ref('legal_entities') }}
{{ hubs_stage('hub1_command', 'persons') }}
