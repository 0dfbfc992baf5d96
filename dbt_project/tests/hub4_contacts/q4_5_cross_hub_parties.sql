{{ config(severity='error', tags=['validation', 'hub4_contacts'],
          meta={'dagster': {'ref': {'name': 'parties'}},
                'validation': 'Q4.5', 'description': 'Every customer, carrier, driver, legal entity and person resolves to an existing party that is not merged.'}) }}
{#- Q4.5 Cross-hub parties. Hub 4 answers "who is this" for every hub; a record pointing at no
    party, or at a merged duplicate, splits one real-world party in two. One row per offending
    record. -#}
with refs as (
    select 'customer' as kind, customer_code as ref_key, party_id from {{ ref('customers') }}
    union all
    select 'carrier', usdot_number::text, party_id from {{ ref('carriers') }}
    union all
    select 'driver', driver_code, party_id from {{ ref('drivers') }}
    union all
    select 'legal_entity', entity_code, party_id from {{ ref('legal_entities') }}
    union all
    select 'person', handle, party_id from {{ ref('persons') }}
)
select case when r.party_id is null then 'missing_party'
            when p.party_id is null then 'unknown_party'
            else 'merged_party' end as problem,
       r.kind || ':' || r.ref_key as key,
       case when p.status = 'merged' then format('party %s merged into %s', p.party_id, p.merged_into)
            else format('party %s', coalesce(r.party_id::text, 'NULL')) end as detail
from refs as r
left join {{ ref('parties') }} as p on p.party_id = r.party_id
where p.party_id is null or p.status = 'merged'
