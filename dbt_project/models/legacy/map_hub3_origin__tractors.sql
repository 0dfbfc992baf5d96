-- Legacy trucks -> hub3_origin.tractors' landing contract: the unit number out of its several
-- spellings, the status decoded; the version starts when the row was last updated.
with trucks as (
    select * from {{ source('legacy', 'trucks') }}
),

codes as (
    select code, status from {{ ref('legacy_status_codes') }} where domain = 'truck'
)

select
    'trucks' as _legacy_table,
    t.truck_id::text as _legacy_id,
    t.updated_at as _legacy_updated_at,
    case when t.deleted then 'deleted' else 'row' end as _legacy_role,
    {{ legacy_reasons([
        ("c.status is null", "format('legacy trucks.status_cd %L is not a known truck status', t.status_cd)"),
    ]) }} as _reject_reason,
    {{ legacy_unit('t.unit_no') }} as unit_number,
    t.vin,
    t.make,
    t.model,
    t.yr::text as model_year,
    c.status,
    t.owner_code as owner_entity,
    t.updated_at::text as valid_from
from trucks as t
left join codes as c on c.code = t.status_cd
