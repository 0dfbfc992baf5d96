{{ hubs_current(ref('stg_hub5_financial__factoring_assignments')) }}
