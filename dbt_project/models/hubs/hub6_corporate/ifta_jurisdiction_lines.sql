{{ hubs_current(ref('stg_hub6_corporate__ifta_jurisdiction_lines')) }}
