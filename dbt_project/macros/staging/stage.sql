{#-
  stg_<schema>__<table>: every landed row exactly once, typed, with the rules it broke.
  _accepted rows feed the hub table; the others are copied into quarantine.rows by the
  post-hook. The rules come from the hub model's contract:
    type / missing_key / not_null   values that do not parse or are missing
    duplicate_key                   the same version key twice in one file
    check                           the contract's CHECK expressions
    fk                              a parent key that the parent hub table does not hold
    shape                           a JSON column a relationship reads is not the shape it reads
    unique / overlap                clashes with the rows the batch leaves in place (hub rows
                                    the batch does not replace) or earlier rows of the batch
    delete_refused                  the delete pass kept a row that is still referenced
-#}

{% macro hubs_stage(schema_name, table_name) %}
{%- set landing = source('landing', schema_name ~ '__' ~ table_name) -%}
{%- set deletions = ref('hub_deletions') -%}
{%- if not execute -%}
select 1 as _parsing
{%- else -%}
{%- set node = hubs_entity_node(table_name) -%}
{%- set entity = hubs_entity_label(node) -%}
{%- set key = hubs_primary_key(node) -%}
{%- set vkey = hubs_version_key(node) -%}
{%- set hub = adapter.get_relation(node.database, node.schema, node.alias or node.name) -%}
{%- set exclusions = hubs_exclusions(node) -%}
{%- set uniques = hubs_uniques(node) -%}
{%- set fks = hubs_foreign_keys(node) -%}
{%- set plain_checks = [] -%}
{%- set computed_checks = [] -%}
{%- for chk in hubs_checks(node) -%}
  {%- if modules.re.search("\\b(" ~ (hubs_computed_names(node) | join("|") or "(?!x)x") ~ ")\\b", chk.expression) -%}
    {%- do computed_checks.append(chk) -%}
  {%- else -%}
    {%- do plain_checks.append(chk) -%}
  {%- endif -%}
{%- endfor -%}
{%- set landed = hubs_landed_columns(landing, node) | map(attribute='name') | list -%}
{%- set lower_bound -%}
  {%- if is_incremental() -%}(select coalesce(max(_landing_seq), 0) from {{ this }}){%- else -%}0{%- endif -%}
{%- endset -%}
with
{{ hubs_typed_batch(landing, node, lower_bound) }},
{#- Parents are joined, not probed row by row: one hash join per foreign key. #}
checked as (
    select c.*
        {%- for fk in fks if fk.parent != node.name %},
        p{{ loop.index }}.{{ adapter.quote(fk.parent_columns[0]) }} is not null as _fk{{ loop.index }}_found
        {%- endfor %},
        refused.reason as _refused_reason
    from counted as c
    {%- for fk in fks if fk.parent != node.name %}
    left join {{ ref(fk.parent) }} as p{{ loop.index }}
           on {{ hubs_key_match(fk.parent_columns, 'p' ~ loop.index, 'c', fk.columns) }}
    {%- endfor %}
    left join (select d._landing_seq, d.reason from {{ deletions }} as d where d.status = 'refused') as refused
           on refused._landing_seq = c._landing_seq
),
{#- Rules that cannot raise come first; computed columns and exclusion ranges are evaluated
    only for rows that passed them (a division by a zero MPG or a range ending before it
    starts must become a reason, never a failed build). -#}
ruled_plain as (
    select c.*,
        c._type_errors || array_remove(array[
            case when c._dup_count > 1
                 then format('duplicate_key: {{ vkey | join(", ") }} = %s appears %s times in this file',
                             concat_ws(', ', {{ hubs_key_tuple(vkey, 'c') }}), c._dup_count) end
            {%- for chk in plain_checks %},
            {{ hubs_check_reason(chk) }}
            {%- endfor %}
            {%- set ns = namespace(joined=0) %}
            {%- for fk in fks %}
            {%- set parent_node = hubs_entity_node(fk.parent) %},
            case when not c._is_delete
                      {%- for col in fk.columns %} and c.{{ adapter.quote(col) }} is not null{% endfor %}
                      {%- if fk.parent == node.name %}
                      {#- a self reference may point at a row of the same batch #}
                      and not exists (select 1 from counted as p
                                      where not p._is_delete and {{ hubs_key_match(fk.parent_columns, 'p', 'c', fk.columns) }})
                      {%- if hub is not none %}
                      and not exists (select 1 from {{ hub }} as p
                                      where {{ hubs_key_match(fk.parent_columns, 'p', 'c', fk.columns) }})
                      {%- endif %}
                      {%- else %}
                      {%- set ns.joined = ns.joined + 1 %}
                      and not c._fk{{ ns.joined }}_found
                      {%- endif %}
                 then format('fk: {{ fk.columns | join(", ") }} = %s not found in {{ hubs_entity_label(parent_node) }}',
                             concat_ws(', ', {{ hubs_key_tuple(fk.columns, 'c') }})) end
            {%- endfor %}
            {%- for shape in hubs_json_shapes(node) %},
            case when ({{ shape.broken }}) then '{{ shape.reason }}' end
            {%- endfor %},
            c._refused_reason
        ]::text[], null) as _plain_errors
    from checked as c
),
computed as (
    select c.*
        {%- for col in node.columns.values() if hubs_computed(col) %},
        case when cardinality(c._plain_errors) = 0 and not c._is_delete
             then ({{ hubs_computed(col) }}) end as {{ adapter.quote(col.name) }}
        {%- endfor %}
    from ruled_plain as c
),
ruled as (
    select c.*
        {%- for ex in exclusions %}{% set outer = loop %}{% for el in ex.elements %},
        case when cardinality(c._plain_errors) = 0 and not c._is_delete
             then ({{ el.expression }}) end as _ex{{ outer.index }}_{{ loop.index }}
        {%- endfor %}{% endfor %},
        c._plain_errors || array_remove(array[
            {%- for chk in computed_checks %}
            {{ hubs_check_reason(chk) }},
            {%- endfor %}
            null
        ]::text[], null) as _errors
    from computed as c
),
{#- Unique values and exclusion ranges are judged against the state the batch produces, so a
    handover (A's assignment closed at T, B's opened at T, in either order or file) is accepted.
    A row is clash-free when it clashes with no other key at all, in the hub table or the
    batch: it is accepted whatever else happens. A key whose passing rows are all clash-free is
    sure to be replaced, so its current hub row is left out of every other row's probe; other
    hub rows still count. Inside the batch, the first row (in landing order) of a unique value
    or a range wins. The hub build applies clash-free rows first (hubs_upsert), so no
    intermediate state trips an immediate constraint either. -#}
{%- set passing = "cardinality(r._errors) = 0 and not r._is_delete" %}
{%- for cols in uniques %}
unique{{ loop.index }} as (
    select r._landing_seq,
           ({{ hubs_key_tuple(key, 'r') }}) is distinct from
           first_value(({{ hubs_key_tuple(key, 'r') }})) over (partition by {{ hubs_key_tuple(cols, 'r') }} order by r._landing_seq) as _earlier,
           first_value(({{ hubs_key_tuple(key, 'r') }})) over w is distinct from last_value(({{ hubs_key_tuple(key, 'r') }})) over w as _shared
    from ruled as r
    where {{ passing }}
      {%- for col in cols %} and r.{{ adapter.quote(col) }} is not null{% endfor %}
    window w as (partition by {{ hubs_key_tuple(cols, 'r') }} order by {{ hubs_key_tuple(key, 'r') }}
                 rows between unbounded preceding and unbounded following)
),
{%- endfor %}
{%- for ex in exclusions %}{% set outer = loop %}
overlap{{ loop.index }} as (
    select r._landing_seq, bool_or(o._landing_seq < r._landing_seq) as _earlier
    from ruled as r
    join ruled as o
      on ({{ hubs_key_tuple(key, 'o') }}) is distinct from ({{ hubs_key_tuple(key, 'r') }})
     {%- for el in ex.elements %}
     and o._ex{{ outer.index }}_{{ loop.index }} {{ el.operator }} r._ex{{ outer.index }}_{{ loop.index }}
     {%- endfor %}
    where {{ passing }} and cardinality(o._errors) = 0 and not o._is_delete
    group by r._landing_seq
),
{%- endfor %}
probed as (
    select r.*
        {%- for cols in uniques %}
        , coalesce(u{{ loop.index }}._earlier, false) as _u{{ loop.index }}_earlier
        , coalesce(u{{ loop.index }}._shared, false) as _u{{ loop.index }}_batch
        , {% if hub is not none %}{{ passing }} and exists ({{ hubs_unique_probe(hub, key, cols) }}){% else %}false{% endif %} as _u{{ loop.index }}_hub
        {%- endfor %}
        {%- for ex in exclusions %}
        , coalesce(x{{ loop.index }}._earlier, false) as _x{{ loop.index }}_earlier
        , x{{ loop.index }}._landing_seq is not null as _x{{ loop.index }}_batch
        , {% if hub is not none %}{{ passing }} and exists ({{ hubs_overlap_probe(hub, key, ex, loop.index, node) }}){% else %}false{% endif %} as _x{{ loop.index }}_hub
        {%- endfor %}
    from ruled as r
    {%- for cols in uniques %}
    left join unique{{ loop.index }} as u{{ loop.index }} on u{{ loop.index }}._landing_seq = r._landing_seq
    {%- endfor %}
    {%- for ex in exclusions %}
    left join overlap{{ loop.index }} as x{{ loop.index }} on x{{ loop.index }}._landing_seq = r._landing_seq
    {%- endfor %}
),
sure as (
    select r.*,
        {{ passing }}
        {%- for cols in uniques %} and not (r._u{{ loop.index }}_batch or r._u{{ loop.index }}_hub){% endfor %}
        {%- for ex in exclusions %} and not (r._x{{ loop.index }}_batch or r._x{{ loop.index }}_hub){% endfor %} as _clash_free
    from probed as r
),
{#- SCD-2 entities are left out: their current row is the newest valid_from, which may be an
    older version than the batch's, so the batch does not surely replace it. #}
replaced as (
    select {{ hubs_key_tuple(key, 'r') }}
    from sure as r
    where {{ passing }}{% if hubs_history_kind(node) == 'scd2' %} and false{% endif %}
    group by {{ hubs_key_tuple(key, 'r') }}
    having bool_and(r._clash_free)
),
final as (
    select r.*,
        array_remove(array[
            {%- for cols in uniques %}
            case when r._u{{ loop.index }}_earlier
                      {%- if hub is not none %}
                      or (r._u{{ loop.index }}_hub and exists ({{ hubs_unique_probe(hub, key, cols) }}
                          and not exists (select 1 from replaced as x where {{ hubs_key_match(key, 'x', 'h') }})))
                      {%- endif %}
                 then format('unique: {{ cols | join(", ") }} = %s already belongs to another {{ key | join(", ") }}',
                             concat_ws(', ', {{ hubs_key_tuple(cols, 'r') }})) end,
            {%- endfor %}
            {%- for ex in exclusions %}
            case when r._x{{ loop.index }}_earlier
                      {%- if hub is not none %}
                      or (r._x{{ loop.index }}_hub and exists ({{ hubs_overlap_probe(hub, key, ex, loop.index, node) }}
                          and not exists (select 1 from replaced as x where {{ hubs_key_match(key, 'x', 'h') }})))
                      {%- endif %}
                 then 'overlap: {{ ex.name }} - overlaps another row' end,
            {%- endfor %}
            null
        ]::text[], null) as _clashes
    from sure as r
)
select
    _landing_seq, _file_id, _row_number, _loaded_at, _is_delete,
    {%- for col in node.columns.values() if col.name in landed %}
    {{ adapter.quote(col.name) }},
    {%- endfor %}
    _errors || _clashes as _errors,
    cardinality(_errors || _clashes) = 0 as _accepted,
    _clash_free,
    md5(row({%- for col in node.columns.values() if col.name in landed -%}
        {{ adapter.quote(col.name) }}{{ ", " if not loop.last }}
    {%- endfor -%})::text) as _row_hash
from final
{%- endif %}
{% endmacro %}


{% macro hubs_check_reason(chk) %}
  {#- A CHECK as a staging reason: NULL when it holds (or does not apply), else its name and,
      for a column check, the value that broke it. -#}
            case when not c._is_delete and ({{ chk.expression }}) is false
                 then {% if chk.column -%}
                 format('{{ ("check: " ~ chk.name ~ " - " ~ chk.column ~ " = %s breaks " ~ (chk.expression | replace("%", "%%"))) | replace("'", "''") }}', coalesce(left(c.{{ adapter.quote(chk.column) }}::text, 80), 'NULL'))
                 {%- else -%}
                 '{{ ("check: " ~ chk.name ~ " - " ~ chk.expression) | replace("'", "''") }}'
                 {%- endif %} end
{%- endmacro %}


{% macro hubs_computed_names(node) %}
  {%- set names = [] -%}
  {%- for col in node.columns.values() if hubs_computed(col) -%}{%- do names.append(col.name) -%}{%- endfor -%}
  {{ return(names) }}
{% endmacro %}


{% macro hubs_qualified(expression, node, alias) %}
  {#- "tstzrange(valid_from, valid_to)" -> "tstzrange(h.valid_from, h.valid_to)" for the
      entity's own column names, so a probe of the hub table can use its GiST index. -#}
  {%- set names = node.columns.keys() | list -%}
  {{ return(modules.re.sub("(?<![\\w.])(" ~ names | join("|") ~ ")(?![\\w(])", alias ~ ".\\1", expression)) }}
{% endmacro %}


{% macro hubs_stage_finish() %}
  {#- Post-hook of every staging model: indexes the hub build reads by, and a copy of each new
      rejected row (with its raw landed values) in quarantine.rows. -#}
  {%- if execute -%}
  {%- set table_name = this.identifier.split('__', 1)[1] -%}
  {%- set schema_name = this.identifier.split('__', 1)[0][4:] -%}
  {%- set node = hubs_entity_node(table_name) -%}
  {%- set key = hubs_primary_key(node) -%}
  {%- set landing = source('landing', schema_name ~ '__' ~ table_name) -%}
  create unique index if not exists {{ this.identifier }}__seq on {{ this }} (_landing_seq);
  create index if not exists {{ this.identifier }}__key on {{ this }} ({{ key | join(', ') }}, _landing_seq);
  create index if not exists {{ this.identifier }}__rejected on {{ this }} (_landing_seq) where not _accepted;
  insert into quarantine.rows (entity, _landing_seq, file_id, row_number, reasons, raw)
  select '{{ hubs_entity_label(node) }}', s._landing_seq, s._file_id, s._row_number, s._errors,
         to_jsonb(l) - '_landing_seq' - '_file_id' - '_row_number' - '_load_errors'
  from {{ this }} as s
  join {{ landing }} as l on l._landing_seq = s._landing_seq
  where not s._accepted
    -- rows are staged in landing order, so this run's rejects lie past the last one copied
    and s._landing_seq > (select coalesce(max(q._landing_seq), 0) from quarantine.rows as q
                          where q.entity = '{{ hubs_entity_label(node) }}')
  {%- endif -%}
{% endmacro %}


{% macro hubs_unique_probe(hub, key, cols) %}
  {#- a current hub row of another key holding row r's unique value -#}
select 1 from {{ hub }} as h
where {{ hubs_key_match(cols, 'h', 'r') }}
  and ({{ hubs_key_tuple(key, 'h') }}) is distinct from ({{ hubs_key_tuple(key, 'r') }})
{%- endmacro %}


{% macro hubs_overlap_probe(hub, key, ex, index, node) %}
  {#- a current hub row of another key that row r's exclusion elements clash with (written
      over the hub's own columns, so the probe uses its GiST index) -#}
select 1 from {{ hub }} as h
where ({{ hubs_key_tuple(key, 'h') }}) is distinct from ({{ hubs_key_tuple(key, 'r') }})
  {%- for el in ex.elements %}
  and {{ hubs_qualified(el.expression, node, 'h') }} {{ el.operator }} r._ex{{ index }}_{{ loop.index }}
  {%- endfor %}
{%- endmacro %}


{% macro hubs_json_shapes(node) %}
  {#- [{broken, reason}] for every relationship that reads a JSON column (meta.hubs.relationships
      with json_column): the shape the graph writer reads (hubs/sync/graph/edges.py), as SQL
      over the typed column c.<col> that is true when the value has another shape.
        with path:    an object whose <path> member is an array of scalars
        without:      an array of objects, each with a string "doc_type" (targets) or "table",
                      and scalar "key", target key and property values -#}
  {%- set shapes = [] -%}
  {%- for rel in hubs_meta(node).get('relationships', []) if rel.json_column -%}
    {%- set v = 'c.' ~ adapter.quote(rel.json_column) -%}
    {%- if rel.path -%}
      {%- set member = v ~ " -> '" ~ rel.path ~ "'" -%}
      {%- set broken -%}
        jsonb_typeof({{ v }}) not in ('object', 'null')
        or jsonb_typeof({{ member }}) not in ('array', 'null')
        or exists (select 1 from jsonb_array_elements(case when jsonb_typeof({{ member }}) = 'array' then {{ member }} end) as e
                   where jsonb_typeof(e) in ('object', 'array'))
      {%- endset -%}
      {%- do shapes.append({'broken': broken, 'reason': 'shape: ' ~ rel.json_column ~ ' must be a JSON object whose "' ~ rel.path ~ '" is an array of strings or numbers'}) -%}
    {%- else -%}
      {%- set kind = 'doc_type' if rel.targets else 'table' -%}
      {%- set scalars = ['key'] + (rel.properties or []) -%}
      {%- for target in (rel.targets or {}).values() -%}
        {%- do scalars.extend(hubs_primary_key(hubs_entity_node(target))) -%}
      {%- endfor -%}
      {%- set broken -%}
        jsonb_typeof({{ v }}) not in ('array', 'null')
        or exists (select 1 from jsonb_array_elements(case when jsonb_typeof({{ v }}) = 'array' then {{ v }} end) as e
                   where jsonb_typeof(e) <> 'object'
                      or jsonb_typeof(e -> '{{ kind }}') not in ('string', 'null')
                      {%- for member in scalars | unique %}
                      or jsonb_typeof(e -> '{{ member }}') in ('object', 'array')
                      {%- endfor %})
      {%- endset -%}
      {%- do shapes.append({'broken': broken, 'reason': 'shape: ' ~ rel.json_column ~ ' must be a JSON array of objects, each with a string "' ~ kind ~ '" and scalar ' ~ (scalars | unique | join(', ')) ~ ' values'}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(shapes) }}
{% endmacro %}
