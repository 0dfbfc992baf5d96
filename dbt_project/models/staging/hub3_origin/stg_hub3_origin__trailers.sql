-- depends_on: {{ ref('legal_entities') }}
{{ hubs_stage('hub3_origin', 'trailers') }}
