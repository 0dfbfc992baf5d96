-- depends_on: {{ ref('legal_entities') }}
{{ hubs_stage('hub6_corporate', 'regulatory_filings') }}
