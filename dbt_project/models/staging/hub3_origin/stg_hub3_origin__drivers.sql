-- depends_on: {{ ref('parties') }}
{{ hubs_stage('hub3_origin', 'drivers') }}
