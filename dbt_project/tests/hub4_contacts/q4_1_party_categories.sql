{{ config(severity='error', tags=['validation', 'hub4_contacts'],
          meta={'dagster': {'ref': {'name': 'parties'}},
                'validation': 'Q4.1', 'description': 'Every active party has at least one current category, and every category is in the allowed set (a party may hold several).'}) }}
{#- Q4.1 Multi-category validation. A party without a current role cannot be routed (is it a
    customer? a vendor?); holding several at once is normal. One row per offending party, or
    per category row outside the set. -#}
select 'no_current_category' as problem, p.party_id::text as key, format('%s (%s)', p.display_name, p.party_type) as detail
from {{ ref('parties') }} as p
where p.status = 'active'
  and not exists (select 1 from {{ ref('party_categories') }} as c where c.party_id = p.party_id and c.valid_to is null)
union all
select 'unknown_category', c.party_id::text || ':' || coalesce(c.category, 'NULL'), format('since %s', c.valid_from)
from {{ ref('party_categories') }} as c
where c.category is null
   or c.category not in ('customer', 'shipper', 'consignee', 'carrier', 'broker', 'vendor', 'factor', 'insurer',
                         'agency', 'employee', 'driver', 'owner', 'prospect')
