{{ hubs_current(ref('stg_hub1_command__projects')) }}
