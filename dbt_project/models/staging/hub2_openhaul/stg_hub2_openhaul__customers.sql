-- depends_on: {{ ref('parties') }}
-- depends_on: {{ ref('persons') }}
{{ hubs_stage('hub2_openhaul', 'customers') }}
