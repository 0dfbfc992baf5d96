{{ config(severity='error', tags=['validation', 'hub5_financial'],
          meta={'dagster': {'ref': {'name': 'legal_entities'}},
                'validation': 'Q5.1', 'description': 'Legal entities have an EIN NN-NNNNNNN, a formation state, and a USDOT number no other entity has.'}) }}
{#- Q5.1 Entity validation. The EIN goes on every 1099 and tax return, the USDOT number on
    every FMCSA filing; both must be right and unambiguous. One row per offending entity and
    problem. -#}
select 'bad_ein' as problem, entity_code as key, coalesce(ein, 'NULL') as detail
from {{ ref('legal_entities') }}
where ein is null or ein !~ '^\d{2}-\d{7}$'
union all
select 'no_formation_state', entity_code, legal_name
from {{ ref('legal_entities') }}
where formation_state is null
union all
select 'duplicate_usdot', e.entity_code, format('USDOT %s also held by %s', e.usdot_number, o.entity_code)
from {{ ref('legal_entities') }} as e
join {{ ref('legal_entities') }} as o on o.usdot_number = e.usdot_number and o.entity_code <> e.entity_code
