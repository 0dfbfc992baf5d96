-- Legacy repair orders (tractors only: the legacy system has no trailers) ->
-- hub3_origin.maintenance_orders, with their free text (the vectors phase embeds it).
with codes as (
    select code, status from {{ ref('legacy_status_codes') }} where domain = 'repair'
)

select
    'repairs' as _legacy_table,
    r.ro_id::text as _legacy_id,
    r.updated_at as _legacy_updated_at,
    'row' as _legacy_role,
    {{ legacy_reasons([
        ("c.status is null", "format('legacy repairs.status_cd %L is not a known repair status', r.status_cd)"),
    ]) }} as _reject_reason,
    btrim(r.ro_no) as ro_number,
    'tractor' as asset_type,
    {{ legacy_unit('r.truck_unit') }} as unit_number,
    r.category,
    c.status,
    r.opened::text as opened_at,
    r.closed::text as closed_at,
    r.complaint,
    r.cause,
    r.fix as correction,
    {{ legacy_money('r.labor') }} as labor_cost
from {{ source('legacy', 'repairs') }} as r
left join codes as c on c.code = r.status_cd
