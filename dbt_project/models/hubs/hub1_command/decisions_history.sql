{{ hubs_history('decisions', ref('stg_hub1_command__decisions')) }}
