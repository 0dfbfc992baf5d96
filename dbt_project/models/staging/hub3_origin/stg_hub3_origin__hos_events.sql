-- depends_on: {{ ref('drivers') }}
-- depends_on: {{ ref('tractors') }}
{{ hubs_stage('hub3_origin', 'hos_events') }}
