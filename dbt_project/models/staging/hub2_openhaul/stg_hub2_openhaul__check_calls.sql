-- depends_on: {{ ref('loads') }}
{{ hubs_stage('hub2_openhaul', 'check_calls') }}
