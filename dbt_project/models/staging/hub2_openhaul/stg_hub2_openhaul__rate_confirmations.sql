-- depends_on: {{ ref('loads') }}
-- depends_on: {{ ref('carriers') }}
-- depends_on: {{ ref('persons') }}
{{ hubs_stage('hub2_openhaul', 'rate_confirmations') }}
