{{ config(severity='error', tags=['validation', 'hub2_openhaul'],
          meta={'dagster': {'ref': {'name': 'loads'}},
                'validation': 'Q2.3', 'description': 'The design query: for loads with a carrier rate, margin IS NULL OR ABS(margin - (customer_rate - carrier_rate)) > 0.01 finds nothing.'}) }}
{#- Q2.3 Load margin validation, the design's own query. Margin is computed, never typed; a
    mismatch means something wrote it by hand or a rate changed without it. One row per load. -#}
select 'margin_mismatch' as problem, load_number as key,
       format('margin %s, customer_rate %s - carrier_rate %s = %s', coalesce(margin::text, 'NULL'), customer_rate,
              carrier_rate, customer_rate - carrier_rate) as detail
from {{ ref('loads') }}
where carrier_rate is not null
  and (margin is null or abs(margin - (customer_rate - carrier_rate)) > 0.01)
