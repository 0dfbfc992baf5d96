{{ config(severity='warn', tags=['validation', 'hub3_origin'],
          meta={'dagster': {'ref': {'name': 'fuel_transactions'}},
                'validation': 'Q3.3', 'description': 'Fuel transactions reference an existing unit and driver, gallons in (0, 300], total = gallons x price within a cent, valid jurisdiction, odometer never decreases per unit.'}) }}
{#- Q3.3 Transaction validation. Warn: a card feed's typo is an alert for the fuel desk, not a
    reason to stop the hubs. One row per offending transaction. -#}
with f as (
    select *, card_provider || ':' || transaction_id as key,
           lag(odometer) over (partition by unit_number order by transacted_at, card_provider, transaction_id) as previous_odometer
    from {{ ref('fuel_transactions') }}
)
select 'unknown_unit' as problem, key, unit_number as detail from f
where not exists (select 1 from {{ ref('tractors') }} as t where t.unit_number = f.unit_number)
union all
select 'unknown_driver', key, driver_code from f
where driver_code is not null and not exists (select 1 from {{ ref('drivers') }} as d where d.driver_code = f.driver_code)
union all
select 'gallons_out_of_range', key, gallons::text from f
where product not in ('CASH', 'OIL') and (gallons is null or gallons <= 0 or gallons > 300)
union all
select 'total_mismatch', key, format('%s gal x %s = %s, charged %s', gallons, price_per_gallon,
                                     round(gallons * price_per_gallon, 2), total_amount) from f
where gallons is not null and price_per_gallon is not null
  and abs(total_amount - round(gallons * price_per_gallon, 2)) > 0.01
union all
select 'invalid_jurisdiction', key, jurisdiction from f
where not hubs_util.is_us_ca_jurisdiction(jurisdiction)
union all
select 'odometer_decreased', key, format('unit %s odometer %s after %s', unit_number, odometer, previous_odometer) from f
where odometer < previous_odometer
