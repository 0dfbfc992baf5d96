-- The legacy system has no parties: each company, customer and carrier is an organization, one
-- per name (a customer's later duplicate spelling, or a carrier that is also a group company,
-- is merged into the first).
with customers as (
    select
        *,
        row_number() over (partition by btrim(cust_code) order by cust_id) as spelling
    from {{ source('legacy', 'customers') }}
),

named as (
    select 'companies' as _legacy_table, company_id::text as _legacy_id, updated_at, co_name as name,
           false as deleted, 1 as spelling, 1 as source_order
    from {{ source('legacy', 'companies') }}
    union all
    select 'customers', cust_id::text, updated_at, cust_name, false, spelling, 2
    from customers
    union all
    select 'carriers', carrier_id::text, updated_at, carrier_name, deleted, 1, 3
    from {{ source('legacy', 'carriers') }}
),

parties as (
    select
        *,
        {{ legacy_party_id('name') }} as party_id,
        row_number() over (
            partition by case when spelling = 1 then {{ legacy_party_id('name') }} else _legacy_table || _legacy_id end
            order by deleted, source_order, _legacy_id::bigint
        ) as occurrence
    from named
)

select
    _legacy_table,
    _legacy_id,
    updated_at as _legacy_updated_at,
    case when spelling > 1 or occurrence > 1 then 'merged' when deleted then 'deleted' else 'row' end as _legacy_role,
    null::text as _reject_reason,
    party_id,
    'organization' as party_type,
    btrim(name) as display_name,
    btrim(name) as legal_name,
    'active' as status,
    'tms' as source_system
from parties
