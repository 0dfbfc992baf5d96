{{ config(severity='error', tags=['validation', 'hub2_openhaul'],
          meta={'dagster': {'ref': {'name': 'loads'}},
                'validation': 'Q2.4', 'description': 'Every load with a carrier and a pickup (not cancelled) was covered by a carrier whose vetting at pickup_at passed: allowed to operate, active common or contract authority, BIPD >= $750,000.'}) }}
{#- Q2.4 Carrier compliance. Tendering to a carrier without authority or insurance on the day
    it picks up is the broker's liability. The vetting in force at pickup_at is the one whose
    [valid_from, valid_to) contains it. One row per offending load. -#}
with l as (
    select load_number, carrier_usdot, pickup_at
    from {{ ref('loads') }}
    where carrier_usdot is not null and pickup_at is not null and status <> 'cancelled'
)
select case when v.vetting_id is null then 'no_vetting_at_pickup' else 'vetting_not_passing' end as problem,
       l.load_number as key,
       case when v.vetting_id is null then format('carrier %s not vetted at pickup %s', l.carrier_usdot, l.pickup_at)
            else format('carrier %s at pickup %s: result %s, allowed %s, common %s, contract %s, bipd %s (vetting %s)',
                        l.carrier_usdot, l.pickup_at, v.result, v.allowed_to_operate, coalesce(v.common_authority, '-'),
                        coalesce(v.contract_authority, '-'), coalesce(v.bipd_on_file::text, 'NULL'), v.vetting_id) end as detail
from l
left join {{ ref('carrier_vettings') }} as v
  on v.usdot_number = l.carrier_usdot
 and v.valid_from <= l.pickup_at and l.pickup_at < coalesce(v.valid_to, 'infinity')
where not exists (
    select 1 from {{ ref('carrier_vettings') }} as ok
    where ok.usdot_number = l.carrier_usdot
      and ok.valid_from <= l.pickup_at and l.pickup_at < coalesce(ok.valid_to, 'infinity')
      and ok.result = 'pass' and ok.allowed_to_operate = 'Y'
      and (ok.common_authority = 'A' or ok.contract_authority = 'A')
      and ok.bipd_on_file >= 750000
)
