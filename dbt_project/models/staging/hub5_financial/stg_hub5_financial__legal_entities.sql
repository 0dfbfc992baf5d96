-- depends_on: {{ ref('parties') }}
{{ hubs_stage('hub5_financial', 'legal_entities') }}
