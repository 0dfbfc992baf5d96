{#-
  Typing landed text into the hub contract's types without ever raising: a value that does
  not parse becomes NULL plus a reason. Shared by staging and by the delete pass, so both read
  a landed row the same way.
-#}

{% macro hubs_type_class(data_type) %}
  {%- set t = data_type | lower | trim -%}
  {%- if t.endswith('[]') -%}{{ return('array') }}
  {%- elif t.startswith('timestamp') or t == 'date' -%}{{ return('temporal') }}
  {%- elif t.startswith('numeric') or t.startswith('decimal') or t in ('real', 'double precision', 'float', 'float8', 'float4') -%}{{ return('number') }}
  {%- elif t.startswith('text') or t.startswith('varchar') or t.startswith('character varying') -%}{{ return('text') }}
  {%- else -%}{{ return('other') }}
  {%- endif -%}
{% endmacro %}


{% macro hubs_normalized(raw, data_type) %}
  {#- landed text -> text in PostgreSQL input syntax, or NULL when empty -#}
  {%- set cls = hubs_type_class(data_type) -%}
  {%- if cls == 'text' -%}nullif({{ raw }}, '')
  {%- elif cls == 'array' -%}hubs_util.array_input(nullif(btrim({{ raw }}), ''))
  {%- else -%}nullif(btrim({{ raw }}), '')
  {%- endif -%}
{% endmacro %}


{% macro hubs_is_valid(value, data_type) %}
  {#- pg_input_is_valid alone accepts 'yesterday', 'infinity' and 'NaN'; landing data must be
      ISO 8601 dates and plain decimal numbers. -#}
  {%- set cls = hubs_type_class(data_type) -%}
  {%- if cls == 'temporal' -%}
    ({{ value }} ~ '^\d{4}-\d{2}-\d{2}' and pg_input_is_valid({{ value }}, '{{ data_type }}'))
  {%- elif cls == 'number' -%}
    ({{ value }} ~ '^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$' and pg_input_is_valid({{ value }}, '{{ data_type }}'))
  {%- else -%}
    pg_input_is_valid({{ value }}, '{{ data_type }}')
  {%- endif -%}
{% endmacro %}


{% macro hubs_landed_columns(landing, node) %}
  {#- Hub columns that the landing table carries (the landing contract), in contract order. -#}
  {%- set landed = adapter.get_columns_in_relation(landing) | map(attribute='name') | list -%}
  {%- set cols = [] -%}
  {%- for col in node.columns.values() if col.name in landed and not col.name.startswith('_') -%}
    {%- do cols.append(col) -%}
  {%- endfor -%}
  {{ return(cols) }}
{% endmacro %}


{% macro hubs_typed_batch(landing, node, lower_bound) %}
  {#- CTEs norm -> typed -> counted over landed rows with _landing_seq > lower_bound:
      typed columns, _is_delete, _type_errors (type and missing-value reasons) and
      _dup_count (rows of the same file with the same version key). -#}
  {%- set cols = hubs_landed_columns(landing, node) -%}
  {%- set key = hubs_primary_key(node) -%}
  {%- set required = hubs_not_null_columns(node) -%}
  {%- set scd2 = hubs_history_kind(node) == 'scd2' -%}
norm as (
    select
        l._landing_seq, l._file_id, l._row_number, f.loaded_at as _loaded_at,
        nullif(btrim(l._deleted), '') as _deleted
        {%- for col in cols %},
        {{ hubs_normalized('l.' ~ adapter.quote(col.name), col.data_type) }} as {{ adapter.quote(col.name) }}
        {%- endfor %}
    from {{ landing }} as l
    join landing._files as f on f.file_id = l._file_id
    where l._landing_seq > {{ lower_bound }}
),
typed as (
    select
        n._landing_seq, n._file_id, n._row_number, n._loaded_at,
        coalesce(hubs_util.truthy(n._deleted), false) as _is_delete
        {%- for col in cols %},
        {%- set typed -%}case when {{ hubs_is_valid('n.' ~ adapter.quote(col.name), col.data_type) }} then n.{{ adapter.quote(col.name) }}::{{ col.data_type }} end{%- endset %}
        {% if scd2 and col.name == 'valid_from' -%}
        coalesce({{ typed }}, n._loaded_at)
        {%- elif (col.meta or {}).get('default') is not none -%}
        coalesce({{ typed }}, {{ col.meta.default }}::{{ col.data_type }})
        {%- else -%}
        {{ typed }}
        {%- endif %} as {{ adapter.quote(col.name) }}
        {%- endfor %},
        array_remove(array[
            case when n._deleted is not null and hubs_util.truthy(n._deleted) is null
                 then format('type: _deleted %L is not true or false', left(n._deleted, 80)) end
            {%- for col in cols %},
            case when n.{{ adapter.quote(col.name) }} is not null
                      and not {{ hubs_is_valid('n.' ~ adapter.quote(col.name), col.data_type) }}
                 then format('type: {{ col.name }} %L is not a valid {{ col.data_type }}', left(n.{{ adapter.quote(col.name) }}, 80)) end
            {%- if col.name in key %},
            case when n.{{ adapter.quote(col.name) }} is null
                 then 'missing_key: {{ col.name }} is empty' end
            {%- elif col.name in required and not (scd2 and col.name == 'valid_from') and (col.meta or {}).get('default') is none %},
            case when n.{{ adapter.quote(col.name) }} is null and not coalesce(hubs_util.truthy(n._deleted), false)
                 then 'not_null: {{ col.name }} is required' end
            {%- endif %}
            {%- endfor %}
        ]::text[], null) as _type_errors
    from norm as n
),
counted as (
    select t.*,
        count(*) over (partition by t._file_id, {{ hubs_key_tuple(hubs_version_key(node), 't') }}) as _dup_count
    from typed as t
)
{%- endmacro %}
