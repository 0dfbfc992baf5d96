-- depends_on: {{ ref('parties') }}
{{ hubs_stage('hub2_openhaul', 'carriers') }}
