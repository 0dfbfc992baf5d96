{{ config(severity='error', tags=['validation', 'hub4_contacts'],
          meta={'dagster': {'ref': {'name': 'party_relationships'}},
                'validation': 'Q4.2', 'description': 'Party relationships link two distinct existing parties; no two rows of the same (from, to, type) overlap in time.'}) }}
{#- Q4.2 Relationships. A relationship of a party with itself, or to nobody, is noise; two
    overlapping rows for the same pair and type double-count it. One row per offending
    relationship and problem. -#}
with r as (
    select *, tstzrange(valid_from, valid_to) as span from {{ ref('party_relationships') }}
)
select 'same_party' as problem, relationship_id::text as key, format('%s %s itself', from_party_id, rel_type) as detail
from r
where from_party_id = to_party_id
union all
select 'unknown_party', r.relationship_id::text, format('%s %s %s', r.from_party_id, r.rel_type, r.to_party_id)
from r
where not exists (select 1 from {{ ref('parties') }} as p where p.party_id = r.from_party_id)
   or not exists (select 1 from {{ ref('parties') }} as p where p.party_id = r.to_party_id)
union all
select 'overlapping_duplicate', x.relationship_id::text,
       format('%s %s %s %s overlaps %s %s', x.from_party_id, x.rel_type, x.to_party_id, x.span, y.relationship_id, y.span)
from r as x
join r as y
  on x.from_party_id = y.from_party_id and x.to_party_id = y.to_party_id and x.rel_type = y.rel_type
 and x.relationship_id < y.relationship_id and x.span && y.span
