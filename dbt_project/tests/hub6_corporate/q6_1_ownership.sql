{{ config(severity='error', tags=['validation', 'hub6_corporate'],
          meta={'dagster': {'ref': {'name': 'ownership_stakes'}},
                'validation': 'Q6.1', 'description': "An entity's ownership stakes sum to exactly 100% at every instant a stake starts or ends; no owner holds two overlapping stakes in the same entity."}) }}
{#- Q6.1 Owner validation. The sum of stakes only changes where a stake starts or ends, so
    probing every valid_from and valid_to checks every date. Instants from an entity's
    dissolution on are not probed (nobody owns a dissolved company). One row per offending
    entity, or per overlapping pair of stakes. -#}
with s as (
    select *, tstzrange(valid_from, valid_to) as span from {{ ref('ownership_stakes') }}
),
probes as (
    select entity_code, valid_from as at from s
    union
    select entity_code, valid_to from s where valid_to is not null
),
sums as (
    select p.entity_code, p.at, coalesce(sum(s.ownership_pct), 0) as total, count(s.owner_party_id) as n
    from probes as p
    left join s on s.entity_code = p.entity_code and s.span @> p.at
    left join {{ ref('legal_entities') }} as e on e.entity_code = p.entity_code
    where e.dissolved_on is null or p.at < e.dissolved_on
    group by p.entity_code, p.at
)
select 'stakes_not_100' as problem, entity_code as key,
       format('%s instants, first %s', count(*),
              (array_agg(format('%s: %s%% in %s stakes', at, total, n) order by at))[1]) as detail
from sums
where total <> 100.00
group by entity_code
union all
select 'overlapping_stakes', x.entity_code || ':' || x.owner_party_id,
       format('%s%% %s overlaps %s%% %s', x.ownership_pct, x.span, y.ownership_pct, y.span)
from s as x
join s as y
  on x.entity_code = y.entity_code and x.owner_party_id = y.owner_party_id
 and x.valid_from < y.valid_from and x.span && y.span
