{#- Nothing is lost: every landed row up to the newest staged one is either accepted or in
    quarantine.rows, exactly once. Fails with the three counts. -#}
{% test landing_reconciled(model) %}
{%- set landing_table = model.identifier[4:] -%}
{%- set entity = landing_table.replace('__', '.', 1) -%}
with staged as (
    select count(*) filter (where _accepted) as accepted, coalesce(max(_landing_seq), 0) as upto
    from {{ model }}
),
landed as (
    select count(*) as landed from landing.{{ landing_table }}
    where _landing_seq <= (select upto from staged)
),
quarantined as (
    select count(*) as quarantined from quarantine.rows
    where entity = '{{ entity }}' and _landing_seq <= (select upto from staged)
)
select landed, accepted, quarantined
from landed, staged, quarantined
where landed <> accepted + quarantined
{% endtest %}
