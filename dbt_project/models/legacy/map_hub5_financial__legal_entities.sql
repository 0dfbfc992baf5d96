-- Legacy companies (the group's own) -> hub5_financial.legal_entities; the EIN gets its dash back.
select
    'companies' as _legacy_table,
    company_id::text as _legacy_id,
    updated_at as _legacy_updated_at,
    'row' as _legacy_role,
    {{ legacy_reasons([
        ("length(" ~ legacy_digits('fein') ~ ") <> 9", "format('legacy companies.fein %L is not nine digits', fein)"),
    ]) }} as _reject_reason,
    btrim(co_code) as entity_code,
    {{ legacy_party_id('co_name') }} as party_id,
    btrim(co_name) as legal_name,
    substr({{ legacy_digits('fein') }}, 1, 2) || '-' || substr({{ legacy_digits('fein') }}, 3) as ein,
    co_type as entity_type,
    state_of_inc as formation_state,
    status,
    dissolved as dissolved_on
from {{ source('legacy', 'companies') }}
