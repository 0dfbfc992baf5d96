{{ hubs_current(ref('stg_hub2_openhaul__lanes')) }}
