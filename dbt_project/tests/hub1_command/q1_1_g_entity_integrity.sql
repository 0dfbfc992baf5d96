{{ config(severity='error', tags=['validation', 'hub1_command'],
          meta={'dagster': {'ref': {'name': 'persons'}},
                'validation': 'Q1.1', 'description': "Exactly one owner person, with handle 'G', active and linked to an active person party."}) }}
{#- Q1.1 G entity integrity. Everything in the hubs hangs off G (ownership, goals, decisions),
    so there must be exactly one owner and it must be G, present and resolvable as a party.
    The foreign key and NOT NULL on persons.party_id already make the party exist, so what is
    left to ask of it is that it is G as a person, still active (not an organization, not
    inactive or merged into another party).
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
select 'owner_party_not_active_person', o.person_id::text,
       format('%s is party %s, a %s party that is %s', o.handle, p.party_id, p.party_type, p.status)
from owners as o join {{ ref('parties') }} as p on p.party_id = o.party_id
where p.party_type <> 'person' or p.status <> 'active'
