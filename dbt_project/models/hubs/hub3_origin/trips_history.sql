{{ hubs_history('trips', ref('stg_hub3_origin__trips')) }}
