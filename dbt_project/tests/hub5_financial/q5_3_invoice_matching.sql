{{ config(severity='error', tags=['validation', 'hub5_financial'],
          meta={'dagster': {'ref': {'name': 'invoice_load_matches'}},
                'validation': 'Q5.3', 'description': 'Every delivered OpenHaul load is matched to exactly one invoice; a matched line bills its expected amount, which is the load customer_rate + customer_accessorials.'}) }}
{#- Q5.3 Invoice matching. An unbilled delivered load is lost revenue, a twice-billed one a
    dispute; a "matched" line that does not bill what the load says hides a variance. One row
    per offending load or match line and problem. -#}
with oh as (
    select * from {{ ref('invoice_load_matches') }} where load_ref_type = 'openhaul_load'
),
per_load as (
    select load_ref, count(*) as n, string_agg(entity_code || ':' || invoice_number, ', ' order by invoice_number) as invoices
    from oh
    group by load_ref
)
select case when coalesce(m.n, 0) = 0 then 'not_invoiced' else 'invoiced_several_times' end as problem,
       l.load_number as key,
       format('delivered %s, %s invoices %s', l.delivered_at, coalesce(m.n, 0), coalesce(m.invoices, '')) as detail
from {{ ref('loads') }} as l
left join per_load as m on m.load_ref = l.load_number
where l.status = 'delivered' and coalesce(m.n, 0) <> 1
union all
select 'matched_amount_differs', oh.entity_code || ':' || oh.invoice_number || ':' || oh.load_ref,
       format('matched %s, expected %s', oh.matched_amount, oh.expected_amount)
from oh
where oh.match_status = 'matched' and abs(oh.matched_amount - oh.expected_amount) > 0.01
union all
select 'expected_differs_from_load', oh.entity_code || ':' || oh.invoice_number || ':' || oh.load_ref,
       format('expected %s, load customer_rate %s + accessorials %s', oh.expected_amount, l.customer_rate, l.customer_accessorials)
from oh
join {{ ref('loads') }} as l on l.load_number = oh.load_ref
where oh.match_status = 'matched' and abs(oh.expected_amount - (l.customer_rate + l.customer_accessorials)) > 0.01
