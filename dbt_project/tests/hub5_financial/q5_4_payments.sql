{{ config(severity='error', tags=['validation', 'hub5_financial'],
          meta={'dagster': {'ref': {'name': 'payments'}},
                'validation': 'Q5.4', 'description': "Payments applied to an AR invoice add up to total - balance_due and never exceed its total; no payment applies more than its amount."}) }}
{#- Q5.4 Payments. Cash applied and balances must tell the same story, or collections chase
    paid invoices and miss unpaid ones. Applications are the elements of payments.applications
    ({doc_type, entity_code, invoice_number | vendor_party_id + vendor_invoice_number, amount});
    sums are recomputed from them. One row per offending invoice or payment and problem. -#}
with applications as (
    select p.payment_id, a ->> 'doc_type' as doc_type, a ->> 'entity_code' as entity_code,
           a ->> 'invoice_number' as invoice_number, (a ->> 'amount')::numeric as amount
    from {{ ref('payments') }} as p
    cross join lateral jsonb_array_elements(p.applications) as a
),
applied as (
    select i.entity_code, i.invoice_number, i.total, i.balance_due, i.status,
           coalesce(sum(a.amount), 0) as applied, count(a.payment_id) as n
    from {{ ref('ar_invoices') }} as i
    left join applications as a
      on a.doc_type = 'ar_invoice' and a.entity_code = i.entity_code and a.invoice_number = i.invoice_number
    group by i.entity_code, i.invoice_number, i.total, i.balance_due, i.status
)
select 'balance_mismatch' as problem, entity_code || ':' || invoice_number as key,
       format('%s: total %s - balance_due %s = %s, applied %s in %s applications', status, total, balance_due,
              total - balance_due, applied, n) as detail
from applied
where abs((total - balance_due) - applied) > 0.01
union all
select 'invoice_over_applied', entity_code || ':' || invoice_number, format('total %s, applied %s', total, applied)
from applied
where applied > total
union all
select 'payment_over_applied', p.payment_id::text, format('amount %s, applied %s', p.amount, a.applied)
from {{ ref('payments') }} as p
join (select payment_id, sum(amount) as applied from applications group by payment_id) as a on a.payment_id = p.payment_id
where a.applied > p.amount
