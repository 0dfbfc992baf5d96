-- depends_on: {{ ref('parties') }}
{{ hubs_stage('hub4_contacts', 'contact_points') }}
