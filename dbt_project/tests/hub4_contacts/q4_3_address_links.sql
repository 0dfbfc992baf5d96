{{ config(severity='error', tags=['validation', 'hub4_contacts'],
          meta={'dagster': {'ref': {'name': 'party_addresses'}},
                'validation': 'Q4.3', 'description': 'Every party address link points at an existing address; each active organization has exactly one current primary physical address.'}) }}
{#- Q4.3 Address links. Dispatch, billing and the graph's Party -> Address hop all assume one
    place an organization is at. One row per offending link or organization. -#}
with primary_physical as (
    select party_id, count(*) as n, string_agg(address_id::text, ', ' order by address_id) as addresses
    from {{ ref('party_addresses') }}
    where address_type = 'physical' and is_primary and valid_to is null
    group by party_id
)
select 'unknown_address' as problem, pa.party_id::text || ':' || pa.address_id::text as key,
       format('%s link since %s', pa.address_type, pa.valid_from) as detail
from {{ ref('party_addresses') }} as pa
where not exists (select 1 from {{ ref('addresses') }} as a where a.address_id = pa.address_id)
union all
select case when coalesce(pp.n, 0) = 0 then 'no_primary_physical_address' else 'several_primary_physical_addresses' end,
       p.party_id::text,
       format('%s: %s current primary physical addresses %s', p.display_name, coalesce(pp.n, 0), coalesce(pp.addresses, ''))
from {{ ref('parties') }} as p
left join primary_physical as pp on pp.party_id = p.party_id
where p.party_type = 'organization' and p.status = 'active' and coalesce(pp.n, 0) <> 1
