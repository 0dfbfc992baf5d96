{{ hubs_current(ref('stg_hub4_contacts__addresses')) }}
