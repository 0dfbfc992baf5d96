{#- Cleaning rules the legacy mapping models share: each turns one messy legacy spelling into
    the landing contract's text, or null when nothing usable is left (the model says why). -#}

{#- '#6520', 'unit 6520', 'UNIT#6520', ' 6520 ' -> '6520' -#}
{% macro legacy_unit(expr) -%}
nullif(btrim(regexp_replace(btrim({{ expr }}), '^(unit\s*#?|#)\s*', '', 'i')), '')
{%- endmacro %}

{#- '$2,450.00', '2450.00', '2,450.00 USD' -> '2450.00' -#}
{% macro legacy_money(expr) -%}
nullif(regexp_replace({{ expr }}, '[^0-9.-]', '', 'g'), '')
{%- endmacro %}

{#- The party a legacy company, customer or carrier becomes (the legacy system has no parties): one
    stable id per name, so the same organization in two tables is one party and re-extracting
    gives the same id. -#}
{% macro legacy_party_id(name) -%}
md5('legacy party ' || lower(btrim({{ name }})))::uuid::text
{%- endmacro %}

{#- 'USDOT 2849315', 'DOT#2849315', '2849315' -> '2849315' -#}
{% macro legacy_digits(expr) -%}
nullif(regexp_replace({{ expr }}, '[^0-9]', '', 'g'), '')
{%- endmacro %}

{#- 'Tulsa, OK', 'TULSA OK', 'Tulsa,OK' -> city and state -#}
{% macro legacy_city(expr) -%}
nullif(initcap(btrim(regexp_replace(btrim({{ expr }}), '[,\s]*[A-Za-z]{2}$', ''))), '')
{%- endmacro %}
{% macro legacy_state(expr) -%}
upper(substring(btrim({{ expr }}) from '[A-Za-z]{2}$'))
{%- endmacro %}

{#- The reason a row cannot be mapped, or null: each argument is a (condition, reason) pair. -#}
{% macro legacy_reasons(pairs) -%}
nullif(concat_ws('; '
{%- for condition, reason in pairs %}, case when {{ condition }} then {{ reason }} end{% endfor -%}
), '')
{%- endmacro %}
