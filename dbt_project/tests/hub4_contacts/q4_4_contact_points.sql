{{ config(severity='error', tags=['validation', 'hub4_contacts'],
          meta={'dagster': {'ref': {'name': 'contact_points'}},
                'validation': 'Q4.4', 'description': 'Phone numbers are E.164, e-mail addresses well formed, no duplicate (party, channel, value) ignoring case.'}) }}
{#- Q4.4 Contact points. Dialers and SMS gateways need E.164; the key is case-sensitive, so
    the same e-mail in two spellings would slip past it. One row per offending contact point,
    or per duplicate group. -#}
select 'bad_phone' as problem, party_id::text || ':' || channel || ':' || value as key, value as detail
from {{ ref('contact_points') }}
where channel in ('phone', 'mobile', 'fax') and value !~ '^\+[1-9]\d{7,14}$'
union all
select 'bad_email', party_id::text || ':' || channel || ':' || value, value
from {{ ref('contact_points') }}
where channel = 'email' and value !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'
union all
select 'duplicate', party_id::text || ':' || channel || ':' || lower(value),
       format('%s spellings: %s', count(*), string_agg(value, ', ' order by value))
from {{ ref('contact_points') }}
group by party_id, channel, lower(value)
having count(*) > 1
