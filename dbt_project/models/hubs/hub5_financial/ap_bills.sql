{{ hubs_current(ref('stg_hub5_financial__ap_bills')) }}
