{{ config(severity='error', tags=['validation', 'hub1_command'],
          meta={'dagster': {'ref': {'name': 'persons'}},
                'validation': 'Q1.1', 'description': "Exactly one owner person, with handle 'G', active and linked to an existing party."}) }}
{#- Q1.1 G entity integrity. Everything in the hubs hangs off G (ownership, goals, decisions),
    so there must be exactly one owner and it must be G, present and resolvable as a party.
    An empty persons table (hub 1 not loaded yet) has no owner to miss. One row per offending
    owner (or one row when there is none). -#}
with owners as (
    select * from {{ ref('persons') }} where is_owner
),
counted as (
    select count(*) as n from owners
)
select 'no_owner' as problem, 'G' as key, format('none of %s persons has is_owner', count(*)) as detail
from {{ ref('persons') }}
having count(*) > 0 and (select n from counted) = 0
union all
select 'several_owners', o.person_id::text, format('%s is one of %s owners', o.handle, c.n)
from owners as o cross join counted as c where c.n > 1
union all
select 'owner_not_G', o.person_id::text, format('owner handle is %s', o.handle)
from owners as o where o.handle <> 'G'
union all
select 'owner_inactive', o.person_id::text, format('%s is inactive (ended %s)', o.handle, o.ended_on)
from owners as o where not o.active
union all
select 'owner_without_party', o.person_id::text, format('%s party_id %s', o.handle, coalesce(o.party_id::text, 'NULL'))
from owners as o
where o.party_id is null
   or not exists (select 1 from {{ ref('parties') }} as p where p.party_id = o.party_id)
