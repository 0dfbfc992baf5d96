-- depends_on: {{ ref('parties') }}
-- depends_on: {{ ref('addresses') }}
{{ hubs_stage('hub4_contacts', 'party_addresses') }}
