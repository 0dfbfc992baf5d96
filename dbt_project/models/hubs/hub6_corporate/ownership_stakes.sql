{{ hubs_current(ref('stg_hub6_corporate__ownership_stakes')) }}
