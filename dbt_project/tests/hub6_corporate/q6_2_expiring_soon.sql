{{ config(severity='warn', tags=['validation', 'hub6_corporate'],
          meta={'dagster': {'ref': {'name': 'credentials'}},
                'validation': 'Q6.2', 'description': 'Warning list: current active credentials, current policies and current active authorities that expire (or are revoked) within 30 days after the as-of date, the latest trip dispatch or load pickup.'}) }}
{#- Q6.2 License expiration, the warning list. Warn: nothing is wrong yet, someone must renew.
    As-of is the latest activity in the hubs, greatest(max(trips.dispatched_at),
    max(loads.pickup_at))::date: about today in production, fixed for generated data. Authorities
    have no expiry date; a current active one "expires" on a scheduled revoked_on. One row per
    document. -#}
with as_of as (
    select greatest((select max(dispatched_at) from {{ ref('trips') }}),
                    (select max(pickup_at) from {{ ref('loads') }}))::date as d
)
select 'credential_expires_soon' as problem, c.credential_type || ':' || c.jurisdiction || ':' || c.number as key,
       format('%s of %s%s expires %s (as of %s)', c.credential_type, c.entity_code, coalesce(' unit ' || c.unit_number, ''),
              c.expires_on, a.d) as detail
from {{ ref('credentials') }} as c
cross join as_of as a
where c.valid_to is null and c.status = 'active'
  and c.expires_on between a.d and a.d + 30
union all
select 'policy_expires_soon', p.insurer_party_id || ':' || p.policy_number,
       format('%s of %s expires %s (as of %s)', p.coverage, p.entity_code, p.expires_on, a.d)
from {{ ref('insurance_policies') }} as p
cross join as_of as a
where p.valid_to is null and p.cancelled_on is null
  and p.expires_on between a.d and a.d + 30
union all
select 'authority_revoked_soon', f.usdot_number || ':' || f.authority_type,
       format('%s authority %s of %s revoked %s (%s) (as of %s)', f.authority_type, f.docket_number, f.entity_code,
              f.revoked_on, coalesce(f.revocation_type, 'no reason'), a.d)
from {{ ref('fmcsa_authorities') }} as f
cross join as_of as a
where f.valid_to is null and f.status = 'A'
  and f.revoked_on between a.d and a.d + 30
