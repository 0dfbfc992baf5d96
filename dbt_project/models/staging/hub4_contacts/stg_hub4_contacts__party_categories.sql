-- depends_on: {{ ref('parties') }}
{{ hubs_stage('hub4_contacts', 'party_categories') }}
