{{ hubs_stage('hub4_contacts', 'parties') }}
