{{ hubs_history('goals', ref('stg_hub1_command__goals')) }}
