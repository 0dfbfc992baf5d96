{{ hubs_stage('hub4_contacts', 'addresses') }}
