{{ hubs_history('insights', ref('stg_hub1_command__insights')) }}
