{{ hubs_current(ref('stg_hub6_corporate__regulatory_filings')) }}
