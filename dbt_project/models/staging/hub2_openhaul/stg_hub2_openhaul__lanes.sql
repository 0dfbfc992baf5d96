{{ hubs_stage('hub2_openhaul', 'lanes') }}
