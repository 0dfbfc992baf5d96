-- depends_on: {{ ref('legal_entities') }}
-- depends_on: {{ ref('tractors') }}
{{ hubs_stage('hub6_corporate', 'credentials') }}
