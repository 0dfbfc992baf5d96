-- The wide legacy loads table, brokerage half (kind B) -> hub2_openhaul.loads.
with loads as (
    select * from {{ source('legacy', 'loads') }} where kind = 'B'
),

customers as (
    select cust_id, btrim(cust_code) as cust_code from {{ source('legacy', 'customers') }}
),

carriers as (
    select carrier_id, {{ legacy_digits('dot_no') }} as usdot_number from {{ source('legacy', 'carriers') }}
),

codes as (
    select code, status from {{ ref('legacy_status_codes') }} where domain = 'load'
)

select
    'loads' as _legacy_table,
    l.load_id::text as _legacy_id,
    l.updated_at as _legacy_updated_at,
    case when l.deleted then 'deleted' else 'row' end as _legacy_role,
    {{ legacy_reasons([
        ("c.status is null", "format('legacy loads.status_cd %L is not a known load status', l.status_cd)"),
        ("l.cust_id is not null and cu.cust_id is null", "format('legacy loads.cust_id %s is no customer', l.cust_id)"),
        ("l.carrier_id is not null and ca.carrier_id is null",
         "format('legacy loads.carrier_id %s is no carrier', l.carrier_id)"),
    ]) }} as _reject_reason,
    btrim(l.load_no) as load_number,
    cu.cust_code as customer_code,
    ca.usdot_number as carrier_usdot,
    c.status,
    l.equip as equipment,
    {{ legacy_money('l.rate') }} as customer_rate,
    l.delivered as delivered_at,
    l.updated_at::text as valid_from
from loads as l
left join customers as cu on cu.cust_id = l.cust_id
left join carriers as ca on ca.carrier_id = l.carrier_id
left join codes as c on c.code = l.status_cd
