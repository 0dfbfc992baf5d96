{{ hubs_stage('hub3_origin', 'drivers') }}
