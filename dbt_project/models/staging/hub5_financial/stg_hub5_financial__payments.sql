-- depends_on: {{ ref('legal_entities') }}
-- depends_on: {{ ref('parties') }}
{{ hubs_stage('hub5_financial', 'payments') }}
