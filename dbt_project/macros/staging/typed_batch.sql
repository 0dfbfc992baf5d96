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


{#- Limits that keep one value from breaking a later step (documented in the README):
    JSON nests at most this deep (the JSON parser recurses; see hubs_util.json_too_deep), and a
    text value in a key, unique, exclusion or indexed column is at most this many bytes (a
    btree index row holds ~2.7 kB; five such columns still fit in one index row). -#}
{% macro hubs_max_json_depth() %}{{ return(64) }}{% endmacro %}
{% macro hubs_max_indexed_bytes() %}{{ return(500) }}{% endmacro %}

{#- ISO 8601 as Python reads it back: years 0001-9999, no 'BC', 'infinity', 'epoch' or
    'yesterday', a zone only as an offset or Z after a time (PostgreSQL checks the rest). -#}
{% macro hubs_temporal_pattern(data_type) %}
  {%- if data_type | lower | trim == 'date' -%}^\d{4}-\d\d-\d\d$
  {%- else -%}^\d{4}-\d\d-\d\d([T ][\d:.]+([Zz]|[-+][\d:]+)?)?$
  {%- endif -%}
{% endmacro %}


{% macro hubs_typed_value(value, data_type) %}
  {#- A valid value in the contract's type. A timestamp without a zone is read as UTC, never in
      the session's (server or PGTZ) time zone, so a file means the same instant everywhere
      (a valid value has a zone when its time part holds an offset sign or Z). -#}
  {%- set t = data_type | lower | trim -%}
  {%- if t in ('timestamptz', 'timestamp with time zone') -%}
    (case when substr({{ value }}, 11) ~ '[-+Zz]' then {{ value }}::timestamptz
          else {{ value }}::timestamp at time zone 'UTC' end)
  {%- else -%}
    {{ value }}::{{ data_type }}
  {%- endif -%}
{% endmacro %}


{% macro hubs_is_valid(value, data_type) %}
  {#- pg_input_is_valid alone accepts 'yesterday', 'infinity', '2024-01-01 BC' and 'NaN';
      landing data must be ISO 8601 dates (years Python can read, also after a time-zone shift)
      and plain decimal numbers. CASE fixes the order: JSON too deep to parse is never parsed. -#}
  {%- set cls = hubs_type_class(data_type) -%}
  {%- set t = data_type | lower | trim -%}
  {%- if cls == 'temporal' -%}
    ({{ value }} ~ '{{ hubs_temporal_pattern(data_type) }}' and pg_input_is_valid({{ value }}, '{{ data_type }}')
    {%- if t != 'date' %}
     {#- the first and last day of the range: a time-zone shift would leave years 1-9999 #}
     and left({{ value }}, 10) not in ('0001-01-01', '9999-12-31')
    {%- endif %})
  {%- elif cls == 'number' -%}
    ({{ value }} ~ '^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$' and pg_input_is_valid({{ value }}, '{{ data_type }}'))
  {%- elif t in ('jsonb', 'json') -%}
    (case when hubs_util.json_too_deep({{ value }}, {{ hubs_max_json_depth() }}) then false
          else pg_input_is_valid({{ value }}, '{{ data_type }}') end)
  {%- else -%}
    pg_input_is_valid({{ value }}, '{{ data_type }}')
  {%- endif -%}
{% endmacro %}


{% macro hubs_indexed_columns(node) %}
  {#- Columns some index of the hub or staging table holds: key, unique, exclusion and the
      config's indexes. -#}
  {%- set names = hubs_primary_key(node) | list -%}
  {%- for cols in hubs_uniques(node) %}{% do names.extend(cols) %}{% endfor -%}
  {%- for ex in hubs_exclusions(node) -%}
    {%- for el in ex.elements -%}
      {%- for col in node.columns.keys() if modules.re.search("(?<![\\w.])" ~ col ~ "(?![\\w(])", el.expression) -%}
        {%- do names.append(col) -%}
      {%- endfor -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- for index in node.config.get('indexes') or [] %}{% do names.extend(index.columns) %}{% endfor -%}
  {{ return(names | unique | list) }}
{% endmacro %}


{% macro hubs_length_limited(col, indexed) %}
  {#- 'text' or 'array' when an index holds this column's text (or text array elements);
      none for columns no index holds or whose type bounds them (uuid, char(n), numbers). -#}
  {%- set t = col.data_type | lower | trim -%}
  {%- if col.name in indexed and hubs_type_class(t) == 'text' -%}{{ return('text') }}
  {%- elif col.name in indexed and t.endswith('[]') and hubs_type_class(t[:-2]) == 'text' -%}{{ return('array') }}
  {%- endif -%}
  {{ return(none) }}
{% endmacro %}


{% macro hubs_too_long(value, col, kind) %}
  {#- SQL true when a (valid) value is too long for an index, per hubs_length_limited. -#}
  {%- set limit = hubs_max_indexed_bytes() -%}
  {%- if kind == 'text' -%}octet_length({{ value }}) > {{ limit }}
  {%- else -%}(octet_length({{ value }}) > {{ limit }} and exists (
      select 1 from unnest({{ value }}::{{ col.data_type }}) as e where octet_length(e) > {{ limit }}))
  {%- endif -%}
{% endmacro %}


{% macro hubs_value_ok(value, col, indexed) %}
  {#- SQL true when a (non-empty) landed value can be typed: valid and, when an index holds
      it, short enough. -#}
  {%- set limited = hubs_length_limited(col, indexed) -%}
  ({{ hubs_is_valid(value, col.data_type) }}{% if limited %} and not {{ hubs_too_long(value, col, limited) }}{% endif %})
{%- endmacro %}


{% macro hubs_type_reason(value, col, indexed) %}
  {#- Why a landed value that is not ok cannot be typed (evaluated only for those). -#}
  {%- set t = col.data_type | lower | trim -%}
  {%- set limited = hubs_length_limited(col, indexed) -%}
            case when {{ value }} is null then null
                 {%- if t in ('jsonb', 'json') or t.endswith('[]') %}
                 when hubs_util.json_too_deep({{ value }}, {{ hubs_max_json_depth() }})
                 then 'type: {{ col.name }} is nested deeper than {{ hubs_max_json_depth() }} levels'
                 {%- endif %}
                 {%- if limited %}
                 when {{ hubs_is_valid(value, col.data_type) }}
                 then format('type: {{ col.name }} {{ "is %s bytes long" if limited == "text" else "has an element over %s bytes" }}; a key or indexed value takes at most {{ hubs_max_indexed_bytes() }} bytes', {{ "octet_length(" ~ value ~ ")" if limited == "text" else hubs_max_indexed_bytes() }})
                 {%- endif %}
                 else format('type: {{ col.name }} %L is not a valid {{ col.data_type }}', left({{ value }}, 80))
            end
{%- endmacro %}


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
  {%- set indexed = hubs_indexed_columns(node) -%}
  {#- what the loader found wrong with a row (a JSON value of the wrong type), one per line -#}
  {%- set loader_found = '_load_errors' in (adapter.get_columns_in_relation(landing) | map(attribute='name') | list) -%}
{#- OFFSET 0 keeps each step a subquery of its own, so a value is normalized and checked once
    (a flattened subquery would repeat its expressions wherever they are used). #}
norm as (
    select
        l._landing_seq, l._file_id, l._row_number, f.loaded_at as _loaded_at,
        nullif(btrim(l._deleted), '') as _deleted,
        {% if loader_found %}coalesce(string_to_array(l._load_errors, e'\n'), '{}'){% else %}'{}'::text[]{% endif %} as _load_errors
        {%- for col in cols %},
        {{ hubs_normalized('l.' ~ adapter.quote(col.name), col.data_type) }} as {{ adapter.quote(col.name) }}
        {%- endfor %}
    from {{ landing }} as l
    join landing._files as f on f.file_id = l._file_id
    where l._landing_seq > {{ lower_bound }}
    offset 0
),
judged as (
    select n.*
        {%- for col in cols %},
        {{ hubs_value_ok('n.' ~ adapter.quote(col.name), col, indexed) }} as {{ adapter.quote('_ok__' ~ col.name) }}
        {%- endfor %}
    from norm as n
    offset 0
),
typed as (
    select
        n._landing_seq, n._file_id, n._row_number, n._loaded_at,
        coalesce(hubs_util.truthy(n._deleted), false) as _is_delete
        {%- for col in cols %},
        {%- set typed -%}case when n.{{ adapter.quote('_ok__' ~ col.name) }} then {{ hubs_typed_value('n.' ~ adapter.quote(col.name), col.data_type) }} end{%- endset %}
        {% if scd2 and col.name == 'valid_from' -%}
        coalesce({{ typed }}, n._loaded_at)
        {%- elif (col.meta or {}).get('default') is not none -%}
        coalesce({{ typed }}, {{ col.meta.default }}::{{ col.data_type }})
        {%- else -%}
        {{ typed }}
        {%- endif %} as {{ adapter.quote(col.name) }}
        {%- endfor %},
        n._load_errors || array_remove(array[
            case when n._deleted is not null and hubs_util.truthy(n._deleted) is null
                 then format('type: _deleted %L is not true or false', left(n._deleted, 80)) end
            {%- for col in cols %},
            case when not n.{{ adapter.quote('_ok__' ~ col.name) }} then
{{ hubs_type_reason('n.' ~ adapter.quote(col.name), col, indexed) }} end
            {%- if col.name in key %},
            case when n.{{ adapter.quote(col.name) }} is null
                 then 'missing_key: {{ col.name }} is empty' end
            {%- elif col.name in required and not (scd2 and col.name == 'valid_from') and (col.meta or {}).get('default') is none %},
            case when n.{{ adapter.quote(col.name) }} is null and not coalesce(hubs_util.truthy(n._deleted), false)
                 then 'not_null: {{ col.name }} is required' end
            {%- endif %}
            {%- endfor %}
        ]::text[], null) as _type_errors
    from judged as n
),
counted as (
    select t.*,
        count(*) over (partition by t._file_id, {{ hubs_key_tuple(hubs_version_key(node), 't') }}) as _dup_count
    from typed as t
)
{%- endmacro %}
