{{ config(severity='error', tags=['validation', 'hub2_openhaul'],
          meta={'dagster': {'ref': {'name': 'rate_confirmations'}},
                'validation': 'Q2.5', 'description': "The latest signed rate confirmation of a load pays its carrier_rate + carrier_accessorials; every confirmation's total is linehaul + fuel surcharge + approved accessorials; loads dispatched or later have a signed confirmation."}) }}
{#- Q2.5 Rate confirmations. The latest signed version binds what the carrier is paid, so it
    must agree with the load; every version's total must add up. One row per offending
    confirmation or load and problem. -#}
with latest_signed as (
    select distinct on (load_number) *
    from {{ ref('rate_confirmations') }}
    where signed_at is not null
    order by load_number, version desc
)
select 'total_differs_from_load' as problem, r.rate_con_number as key,
       format('%s v%s total %s, load carrier_rate %s + accessorials %s', r.load_number, r.version, r.total_carrier_pay,
              coalesce(l.carrier_rate::text, 'NULL'), l.carrier_accessorials) as detail
from latest_signed as r
join {{ ref('loads') }} as l on l.load_number = r.load_number
where coalesce(abs(r.total_carrier_pay - (l.carrier_rate + l.carrier_accessorials)) <= 0.01, false) is false
union all
select 'total_not_sum', rate_con_number,
       format('%s v%s total %s, linehaul %s + fuel %s + accessorials %s', load_number, version, total_carrier_pay,
              linehaul, fuel_surcharge, approved_accessorials)
from {{ ref('rate_confirmations') }}
where abs(total_carrier_pay - (linehaul + fuel_surcharge + approved_accessorials)) > 0.01
union all
select 'no_signed_confirmation', l.load_number, format('status %s without a signed rate confirmation', l.status)
from {{ ref('loads') }} as l
where l.status in ('dispatched', 'at_origin', 'in_transit', 'at_destination', 'delivered')
  and not exists (select 1 from latest_signed as r where r.load_number = l.load_number)
