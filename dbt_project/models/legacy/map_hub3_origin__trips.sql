-- The wide legacy loads table, asset half (kind A) -> hub3_origin.trips: unit numbers out of
-- their spellings, free-text places split into city and state.
with trips as (
    select * from {{ source('legacy', 'loads') }} where kind = 'A'
),

codes as (
    select code, status from {{ ref('legacy_status_codes') }} where domain = 'trip'
)

select
    'loads' as _legacy_table,
    t.load_id::text as _legacy_id,
    t.updated_at as _legacy_updated_at,
    case when t.deleted then 'deleted' else 'row' end as _legacy_role,
    {{ legacy_reasons([
        ("c.status is null", "format('legacy loads.status_cd %L is not a known trip status', t.status_cd)"),
        ("t.pickup_place is not null and " ~ legacy_state('t.pickup_place') ~ " is null",
         "format('legacy loads.pickup_place %L names no state', t.pickup_place)"),
        ("t.drop_place is not null and " ~ legacy_state('t.drop_place') ~ " is null",
         "format('legacy loads.drop_place %L names no state', t.drop_place)"),
    ]) }} as _reject_reason,
    btrim(t.load_no) as trip_number,
    {{ legacy_unit('t.truck_unit') }} as unit_number,
    upper(btrim(t.driver_code)) as driver_code,
    c.status,
    {{ legacy_city('t.pickup_place') }} as origin_city,
    {{ legacy_state('t.pickup_place') }} as origin_state,
    {{ legacy_city('t.drop_place') }} as dest_city,
    {{ legacy_state('t.drop_place') }} as dest_state,
    {{ legacy_money('t.rate') }} as revenue,
    t.delivered as delivered_at,
    t.updated_at::text as valid_from
from trips as t
left join codes as c on c.code = t.status_cd
