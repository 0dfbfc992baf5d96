{{ hubs_history('loads', ref('stg_hub2_openhaul__loads')) }}
