{{ hubs_current(ref('stg_hub3_origin__trips')) }}
