-- depends_on: {{ ref('tractors') }}
-- depends_on: {{ ref('trailers') }}
-- depends_on: {{ ref('parties') }}
-- depends_on: {{ ref('inspections') }}
{{ hubs_stage('hub3_origin', 'maintenance_orders') }}
