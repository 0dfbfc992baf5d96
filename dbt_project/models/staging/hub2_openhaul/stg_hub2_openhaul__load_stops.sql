-- depends_on: {{ ref('loads') }}
-- depends_on: {{ ref('addresses') }}
-- depends_on: {{ ref('parties') }}
{{ hubs_stage('hub2_openhaul', 'load_stops') }}
