{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    pre_hook=["{{ hubs_apply_deletes() }}"],
) }}
{#- The log of applied and refused deletes; the deleting itself is the pre-hook's work, in the
    same transaction, so a failure leaves every hub table as it was. -#}
select entity, key, _landing_seq, status, reason, now() as logged_at
from _hubs_deleted
