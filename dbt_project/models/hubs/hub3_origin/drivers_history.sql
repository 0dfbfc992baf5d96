{{ hubs_history('drivers', ref('stg_hub3_origin__drivers')) }}
