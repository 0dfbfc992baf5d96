-- Legacy drivers -> hub3_origin.drivers' landing contract: the one name column split into first
-- and last ('Young, Linda' or 'Linda Young'), the employee code as the hubs write it.
with drivers as (
    select
        *,
        case when full_name like '%,%' then btrim(split_part(full_name, ',', 2))
             else btrim(split_part(btrim(full_name), ' ', 1)) end as first_part,
        case when full_name like '%,%' then btrim(split_part(full_name, ',', 1))
             else btrim(substr(btrim(full_name), strpos(btrim(full_name), ' ') + 1)) end as last_part
    from {{ source('legacy', 'drivers') }}
),

codes as (
    select code, status from {{ ref('legacy_status_codes') }} where domain = 'driver'
)

select
    'drivers' as _legacy_table,
    d.driver_id::text as _legacy_id,
    d.updated_at as _legacy_updated_at,
    case when d.deleted then 'deleted' else 'row' end as _legacy_role,
    {{ legacy_reasons([
        ("c.status is null", "format('legacy drivers.status_cd %L is not a known driver status', d.status_cd)"),
        ("strpos(btrim(d.full_name), ' ') = 0 and d.full_name not like '%,%'",
         "format('legacy drivers.full_name %L is not a first and a last name', d.full_name)"),
    ]) }} as _reject_reason,
    upper(btrim(d.emp_code)) as driver_code,
    nullif(d.first_part, '') as first_name,
    nullif(d.last_part, '') as last_name,
    d.license_no as cdl_number,
    d.license_st as cdl_state,
    d.license_class as cdl_class,
    nullif(d.license_exp, '') as cdl_expires_on,
    nullif(replace(d.hired, '/', '-'), '') as hire_date,
    nullif(d.termed, '') as termination_date,
    '+1' || d.cell as mobile_phone,
    c.status,
    d.updated_at::text as valid_from
from drivers as d
left join codes as c on c.code = d.status_cd
