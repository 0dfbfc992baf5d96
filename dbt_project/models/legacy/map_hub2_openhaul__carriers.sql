-- Legacy carriers -> hub2_openhaul.carriers: the USDOT number out of its spellings, the approval
-- code decoded.
with codes as (
    select code, status from {{ ref('legacy_status_codes') }} where domain = 'carrier'
)

select
    'carriers' as _legacy_table,
    c.carrier_id::text as _legacy_id,
    c.updated_at as _legacy_updated_at,
    case when c.deleted then 'deleted' else 'row' end as _legacy_role,
    {{ legacy_reasons([
        ("s.status is null", "format('legacy carriers.approved %L is not a known onboarding status', c.approved)"),
    ]) }} as _reject_reason,
    {{ legacy_digits('c.dot_no') }} as usdot_number,
    c.mc_no as mc_docket,
    btrim(c.carrier_name) as legal_name,
    {{ legacy_party_id('c.carrier_name') }} as party_id,
    s.status as onboarding_status
from {{ source('legacy', 'carriers') }} as c
left join codes as s on s.code = c.approved
