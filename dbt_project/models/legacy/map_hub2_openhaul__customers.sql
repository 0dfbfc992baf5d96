-- Legacy customers -> hub2_openhaul.customers: one per customer code (later duplicates merged),
-- money and terms out of their text.
with customers as (
    select
        *,
        row_number() over (partition by btrim(cust_code) order by cust_id) as spelling
    from {{ source('legacy', 'customers') }}
)

select
    'customers' as _legacy_table,
    cust_id::text as _legacy_id,
    updated_at as _legacy_updated_at,
    case when spelling > 1 then 'merged' else 'row' end as _legacy_role,
    {{ legacy_reasons([
        ("substring(terms from '[0-9]+') is null", "format('legacy customers.terms %L names no number of days', terms)"),
    ]) }} as _reject_reason,
    btrim(cust_code) as customer_code,
    first_value({{ legacy_party_id('cust_name') }}) over (partition by btrim(cust_code) order by cust_id) as party_id,
    case when active then 'active' else 'inactive' end as status,
    substring(terms from '[0-9]+') as payment_terms_days,
    {{ legacy_money('credit_limit') }} as credit_limit
from customers
