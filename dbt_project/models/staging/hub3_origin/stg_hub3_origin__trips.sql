-- depends_on: {{ ref('loads') }}
-- depends_on: {{ ref('parties') }}
-- depends_on: {{ ref('tractors') }}
-- depends_on: {{ ref('trailers') }}
-- depends_on: {{ ref('drivers') }}
{{ hubs_stage('hub3_origin', 'trips') }}
