{{ config(severity='error', tags=['validation', 'hub3_origin'],
          meta={'dagster': {'ref': {'name': 'tractors'}},
                'validation': 'Q3.4', 'description': 'VINs are 17 characters without I, O or Q, carry a correct check digit, and are unique across tractors and trailers.'}) }}
{#- Q3.4 VIN validity. One row per offending VIN. -#}
with vins as (
    select 'tractor' as kind, unit_number as key, vin from {{ ref('tractors') }}
    union all
    select 'trailer', trailer_number, vin from {{ ref('trailers') }} where vin is not null
)
select 'wrong_length' as problem, kind || ':' || key as key, vin::text as detail from vins where length(vin) <> 17
union all
select 'forbidden_letter', kind || ':' || key, vin from vins where vin ~ '[IOQ]'
union all
select 'check_digit', kind || ':' || key, vin from vins where not coalesce(hubs_util.vin_is_valid(vin), false)
union all
select 'duplicate', min(kind || ':' || key), vin from vins group by vin having count(*) > 1
