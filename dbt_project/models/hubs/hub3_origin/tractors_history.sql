{{ hubs_history('tractors', ref('stg_hub3_origin__tractors')) }}
