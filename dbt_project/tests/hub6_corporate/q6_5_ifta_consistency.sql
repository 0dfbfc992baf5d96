{{ config(severity='error', tags=['validation', 'hub6_corporate'],
          meta={'dagster': {'ref': {'name': 'ifta_jurisdiction_lines'}},
                'validation': 'Q6.5', 'description': 'IFTA lines: fleet MPG within 4-10, taxable gallons = round(taxable miles / fleet MPG), an IFTA jurisdiction, taxable miles <= total miles, and part of an IFTA quarterly return of the same entity covering the quarter.'}) }}
{#- Q6.5 IFTA consistency. Fleet MPG outside 4-10 means miles or gallons are wrong, and the
    tax due follows from taxable gallons; a line filed under the wrong return is not filed.
    One row per offending line and problem. -#}
with l as (
    select *, ifta_license || ':' || tax_year || '-Q' || quarter || ':' || jurisdiction || ':' || fuel_type as key,
           make_date(tax_year, 3 * quarter - 2, 1) as q_start,
           (make_date(tax_year, 3 * quarter - 2, 1) + interval '3 months' - interval '1 day')::date as q_end
    from {{ ref('ifta_jurisdiction_lines') }}
)
select 'mpg_out_of_range' as problem, key, format('fleet mpg %s', fleet_mpg) as detail
from l
where fleet_mpg not between 4 and 10
union all
select 'taxable_gallons_mismatch', key,
       format('taxable gallons %s, %s miles / %s mpg = %s', coalesce(taxable_gallons::text, 'NULL'), taxable_miles, fleet_mpg,
              round(taxable_miles / fleet_mpg))
from l
where taxable_gallons is distinct from round(taxable_miles / fleet_mpg)
union all
select 'not_ifta_jurisdiction', key, jurisdiction
from l
where not coalesce(hubs_util.is_ifta_jurisdiction(jurisdiction), false)
union all
select 'taxable_exceeds_total', key, format('taxable %s > total %s miles', taxable_miles, total_miles)
from l
where taxable_miles > total_miles
union all
select 'wrong_filing', l.key,
       format('filing %s is %s of %s for %s..%s', l.filing_id, coalesce(f.filing_type, 'missing'), coalesce(f.entity_code, '-'),
              f.period_start, f.period_end)
from l
left join {{ ref('regulatory_filings') }} as f on f.filing_id = l.filing_id
where f.filing_id is null or f.filing_type <> 'IFTA_QUARTERLY' or f.entity_code <> l.entity_code
   or f.period_start > l.q_start or f.period_end < l.q_end
