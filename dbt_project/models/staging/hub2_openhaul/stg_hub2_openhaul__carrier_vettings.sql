-- depends_on: {{ ref('carriers') }}
{{ hubs_stage('hub2_openhaul', 'carrier_vettings') }}
