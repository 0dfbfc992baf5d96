-- depends_on: {{ ref('customers') }}
-- depends_on: {{ ref('lanes') }}
-- depends_on: {{ ref('persons') }}
{{ hubs_stage('hub2_openhaul', 'quotes') }}
