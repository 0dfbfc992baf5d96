{{ hubs_current(ref('stg_hub5_financial__invoice_load_matches')) }}
