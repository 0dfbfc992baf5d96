{{ config(severity='error', tags=['validation', 'hub5_financial'],
          meta={'dagster': {'ref': {'name': 'intercompany_txns'}},
                'validation': 'Q5.2', 'description': 'Invoices and bills are flagged intercompany exactly when the counterparty is a group entity; every intercompany transaction is between two group entities and has its AR invoice and mirror AP bill for the same amount.'}) }}
{#- Q5.2 Intercompany flagging. Consolidation eliminates what is flagged intercompany, so a
    missed flag inflates group revenue and a wrong one hides real revenue; each transaction
    needs both halves (from-entity AR, to-entity AP billed by the from-entity's party) to
    eliminate. One row per offending document or transaction and problem. -#}
with group_parties as (
    select party_id, entity_code from {{ ref('legal_entities') }} where is_group_member
)
select case when i.is_intercompany then 'ar_flagged_not_group' else 'ar_not_flagged' end as problem,
       'ar:' || i.entity_code || ':' || i.invoice_number as key,
       format('billed to %s%s, is_intercompany %s', i.bill_to_party_id, coalesce(' (' || g.entity_code || ')', ''), i.is_intercompany) as detail
from {{ ref('ar_invoices') }} as i
left join group_parties as g on g.party_id = i.bill_to_party_id
where i.is_intercompany <> (g.party_id is not null)
union all
select case when b.is_intercompany then 'ap_flagged_not_group' else 'ap_not_flagged' end,
       'ap:' || b.entity_code || ':' || b.vendor_party_id || ':' || b.vendor_invoice_number,
       format('owed to %s%s, is_intercompany %s', b.vendor_party_id, coalesce(' (' || g.entity_code || ')', ''), b.is_intercompany)
from {{ ref('ap_bills') }} as b
left join group_parties as g on g.party_id = b.vendor_party_id
where b.is_intercompany <> (g.party_id is not null)
union all
select case when i.invoice_number is null then 'missing_ar_invoice' else 'ar_amount_differs' end,
       t.ic_txn_id::text,
       format('%s -> %s %s: AR %s:%s total %s', t.from_entity, t.to_entity, t.amount, t.from_entity,
              coalesce(t.ar_invoice_number, 'NULL'), coalesce(i.total::text, 'missing'))
from {{ ref('intercompany_txns') }} as t
left join {{ ref('ar_invoices') }} as i on i.entity_code = t.from_entity and i.invoice_number = t.ar_invoice_number
where i.invoice_number is null or i.total <> t.amount
union all
select case when b.vendor_invoice_number is null then 'missing_ap_bill' else 'ap_amount_differs' end,
       t.ic_txn_id::text,
       format('%s -> %s %s: AP of %s from %s (%s) bill %s amount %s', t.from_entity, t.to_entity, t.amount, t.to_entity,
              t.from_entity, coalesce(f.party_id::text, 'no party'), coalesce(t.ap_vendor_invoice_number, 'NULL'),
              coalesce(b.amount::text, 'missing'))
from {{ ref('intercompany_txns') }} as t
left join {{ ref('legal_entities') }} as f on f.entity_code = t.from_entity
left join {{ ref('ap_bills') }} as b
  on b.entity_code = t.to_entity and b.vendor_party_id = f.party_id and b.vendor_invoice_number = t.ap_vendor_invoice_number
where b.vendor_invoice_number is null or b.amount <> t.amount
union all
select 'not_group_member', t.ic_txn_id::text,
       format('%s (group %s) -> %s (group %s)', t.from_entity, coalesce(f.is_group_member::text, 'unknown'),
              t.to_entity, coalesce(o.is_group_member::text, 'unknown'))
from {{ ref('intercompany_txns') }} as t
left join {{ ref('legal_entities') }} as f on f.entity_code = t.from_entity
left join {{ ref('legal_entities') }} as o on o.entity_code = t.to_entity
where not coalesce(f.is_group_member, false) or not coalesce(o.is_group_member, false)
