{{ config(severity='error', tags=['validation', 'hub5_financial'],
          meta={'dagster': {'ref': {'name': 'gl_accounts'}},
                'validation': 'Q5.5', 'description': 'Normal balance matches the account type; intercompany accounts name another entity; every pair of entities that trades has a due-to/due-from account on both sides.'}) }}
{#- Q5.5 Accounts. A wrong normal balance flips the sign of statements; intercompany balances
    can only be eliminated if both sides carry an account against each other. One row per
    offending account, or per entity missing an account against a trading partner. -#}
select 'wrong_normal_balance' as problem, entity_code || ':' || account_number as key,
       format('%s %s has normal balance %s', account_type, name, normal_balance) as detail
from {{ ref('gl_accounts') }}
where normal_balance is distinct from case when account_type in ('asset', 'expense') then 'debit' else 'credit' end
union all
select 'intercompany_without_counterparty', entity_code || ':' || account_number,
       format('%s counterparty %s', name, coalesce(counterparty_entity, 'NULL'))
from {{ ref('gl_accounts') }}
where is_intercompany and (counterparty_entity is null or counterparty_entity = entity_code)
union all
select 'missing_due_to_from', s.entity_code || '->' || s.counterparty, 'trades intercompany without a due-to/due-from account'
from (
    select from_entity as entity_code, to_entity as counterparty from {{ ref('intercompany_txns') }}
    union
    select to_entity, from_entity from {{ ref('intercompany_txns') }}
) as s
where not exists (select 1 from {{ ref('gl_accounts') }} as g
                  where g.entity_code = s.entity_code and g.is_intercompany and g.counterparty_entity = s.counterparty)
