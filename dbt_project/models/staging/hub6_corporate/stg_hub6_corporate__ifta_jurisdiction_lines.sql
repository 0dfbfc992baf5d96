-- depends_on: {{ ref('legal_entities') }}
-- depends_on: {{ ref('regulatory_filings') }}
{{ hubs_stage('hub6_corporate', 'ifta_jurisdiction_lines') }}
