{#-
  Hub tables are upserted from staging, one batch at a time. A batch is the accepted staging
  rows past this model's watermark (hubs_meta.watermarks); for each key it touches, the
  surviving versions are those landed after the key's last accepted delete, and the current
  one is the newest (by valid_from for SCD-2 entities, else by landing order). Rows whose
  content did not change are left alone, so re-landing a file changes nothing.
-#}

{% macro hubs_watermark_key(relation) %}
  {#- schema.table, without the database: a copy of the database (or one renamed) keeps its progress.
      hub_assets/dbt/pending.py reads the same keys. -#}
  {{ return(relation.schema ~ '.' ~ relation.identifier) }}
{%- endmacro %}


{% macro hubs_watermark_sql(name) %}
  (select coalesce(max(w.landing_seq), 0) from hubs_meta.watermarks as w where w.relation = '{{ name }}')
{%- endmacro %}


{% macro hubs_surviving_versions(stg, node, lower_bound, upper_bound) %}
  {#- CTEs touched -> candidates -> barriers -> versions (deduplicated per version key). -#}
  {%- set key = hubs_primary_key(node) -%}
  {%- set vkey = hubs_version_key(node) -%}
touched as (
    select distinct {{ hubs_key_tuple(key, 's') }}
    from {{ stg }} as s
    where s._accepted and s._landing_seq > {{ lower_bound }} and s._landing_seq <= {{ upper_bound }}
),
candidates as (
    select s.*
    from {{ stg }} as s
    join touched as t on {{ hubs_key_match(key, 's', 't') }}
    where s._accepted and s._landing_seq <= {{ upper_bound }}
),
barriers as (
    select {{ hubs_key_tuple(key, 'c') }}, max(c._landing_seq) as _barrier
    from candidates as c
    where c._is_delete
    group by {{ hubs_key_tuple(key, 'c') }}
),
versions as (
    select distinct on ({{ hubs_key_tuple(vkey, 'c') }}) c.*
    from candidates as c
    left join barriers as b on {{ hubs_key_match(key, 'c', 'b') }}
    where not c._is_delete and c._landing_seq > coalesce(b._barrier, 0)
    order by {{ hubs_key_tuple(vkey, 'c') }}, c._landing_seq desc
)
{%- endmacro %}


{% macro hubs_computed(col) %}
  {#- Computed contract columns carry their expression in meta.expression, written over the
      entity's own column names (evaluated where only the version row is in scope). -#}
  {{ return((col.meta or {}).get('expression')) }}
{% endmacro %}


{% macro hubs_current(stg) %}
{%- if not execute -%}
select 1 as _parsing
{%- else -%}
{%- set key = hubs_primary_key(model) -%}
{%- set scd2 = hubs_history_kind(model) == 'scd2' -%}
{%- set upper_bound = '(select coalesce(max(_landing_seq), 0) from ' ~ stg ~ ')' -%}
{%- set lower_bound = hubs_watermark_sql(hubs_watermark_key(this)) if is_incremental() else '0' -%}
with
{{ hubs_surviving_versions(stg, model, lower_bound, upper_bound) }},
latest as (
    select distinct on ({{ hubs_key_tuple(key, 'v') }}) v.*
        {%- for col in model.columns.values() if hubs_computed(col) %},
        ({{ hubs_computed(col) }}) as {{ adapter.quote('_computed__' ~ col.name) }}
        {%- endfor %}
    from versions as v
    order by {{ hubs_key_tuple(key, 'v') }}{% if scd2 %}, v.valid_from desc{% endif %}, v._landing_seq desc
)
select
    {%- for col in model.columns.values() %}
    {%- if col.name == 'created_at' %}
    {% if is_incremental() %}coalesce(cur.created_at, now()){% else %}now(){% endif %}::{{ col.data_type }} as created_at
    {%- elif col.name == 'updated_at' %}
    now()::{{ col.data_type }} as updated_at
    {%- elif scd2 and col.name == 'valid_to' %}
    null::{{ col.data_type }} as valid_to
    {%- elif hubs_computed(col) %}
    n.{{ adapter.quote('_computed__' ~ col.name) }}::{{ col.data_type }} as {{ adapter.quote(col.name) }}
    {%- else %}
    n.{{ adapter.quote(col.name) }}::{{ col.data_type }} as {{ adapter.quote(col.name) }}
    {%- endif %}{{ "," if not loop.last }}
    {%- endfor %}
from latest as n
{%- if is_incremental() %}
left join {{ this }} as cur on {{ hubs_key_match(key, 'cur', 'n') }}
where cur._row_hash is distinct from n._row_hash
{%- endif %}
{%- endif %}
{% endmacro %}


{% macro hubs_history(hub_model_name, stg) %}
{#- <table>_history of an SCD-2 entity: every surviving version with valid_from / valid_to
    (the next version's valid_from; NULL for the current one). Keys touched by a batch are
    rewritten whole, so a late-arriving older version slots into place; the rows it changes
    are kept in hubs_meta.superseded (get_incremental_hubs_replace_keys_sql).
    Transaction time: known_from_seq / known_from are the landed row (sequence, landing time)
    from which the row, bounds included, has been believed: the version's own row or the next
    version's, whichever landed last. An unchanged row keeps its own. -#}
{%- if not execute -%}
select 1 as _parsing
{%- else -%}
{%- set node = hubs_entity_node(hub_model_name) -%}
{%- set key = hubs_primary_key(node) -%}
{%- set upper_bound = '(select coalesce(max(_landing_seq), 0) from ' ~ stg ~ ')' -%}
{%- set lower_bound = hubs_watermark_sql(hubs_watermark_key(this)) if is_incremental() else '0' -%}
with
{{ hubs_surviving_versions(stg, node, lower_bound, upper_bound) }},
bounded as (
    select v.*,
        lead(v.valid_from) over w as _next_from,
        lead(v._landing_seq) over w as _next_seq,
        lead(v._loaded_at) over w as _next_loaded_at
        {%- for col in node.columns.values() if hubs_computed(col) %},
        ({{ hubs_computed(col) }}) as {{ adapter.quote('_computed__' ~ col.name) }}
        {%- endfor %}
    from versions as v
    window w as (partition by {{ hubs_key_tuple(key, 'v') }} order by v.valid_from)
)
select
    {%- for col in node.columns.values() if col.name not in ('created_at', 'updated_at') %}
    {%- if col.name == 'valid_to' %}
    v._next_from::{{ col.data_type }} as valid_to,
    {%- elif hubs_computed(col) %}
    v.{{ adapter.quote('_computed__' ~ col.name) }}::{{ col.data_type }} as {{ adapter.quote(col.name) }},
    {%- else %}
    v.{{ adapter.quote(col.name) }}::{{ col.data_type }} as {{ adapter.quote(col.name) }},
    {%- endif %}
    {%- endfor %}
    now() as recorded_at,
    {%- set landed_last = 'v._next_seq > v._landing_seq' %}
    {%- set known_seq = 'case when ' ~ landed_last ~ ' then v._next_seq else v._landing_seq end' %}
    {%- set known_at = 'case when ' ~ landed_last ~ ' then v._next_loaded_at else v._loaded_at end' %}
    {%- if is_incremental() %}
    case when old.valid_from is null then {{ known_seq }} else old.known_from_seq end::bigint as known_from_seq,
    case when old.valid_from is null then {{ known_at }} else old.known_from end::timestamptz as known_from
from bounded as v
left join {{ this }} as old
       on {{ hubs_key_match(key, 'old', 'v') }} and old.valid_from = v.valid_from
      and old._landing_seq = v._landing_seq and old.valid_to is not distinct from v._next_from
    {%- else %}
    ({{ known_seq }})::bigint as known_from_seq,
    ({{ known_at }})::timestamptz as known_from
from bounded as v
    {%- endif %}
{%- endif %}
{% endmacro %}


{% macro hubs_history_constraints(hub_model_name) %}
  {#- Post-hook of a history model: its key is (entity key, valid_from) and versions of one
      key never overlap. Added once; the table is never dropped. -#}
  {%- if execute -%}
  {%- set node = hubs_entity_node(hub_model_name) -%}
  {%- set key = hubs_primary_key(node) -%}
  {%- set name = this.identifier -%}
  do $$
  begin
    if not exists (select 1 from pg_constraint where conrelid = '{{ this }}'::regclass and conname = '{{ name }}_pk') then
      alter table {{ this }} add constraint {{ name }}_pk primary key ({{ key | join(', ') }}, valid_from);
      alter table {{ this }} add constraint {{ name }}_no_overlap exclude using gist (
        {%- for c in key %}{{ c }} with =, {% endfor %}tstzrange(valid_from, valid_to) with &&);
    end if;
  end $$
  {%- endif -%}
{% endmacro %}


{% macro get_incremental_hubs_replace_keys_sql(arg_dict) %}
  {#- Replaces every row of the keys present in the batch (history models). A row that does not
      come back as it was (same version, same landed row, same bounds) is kept in
      hubs_meta.superseded, believed until the new row of its version was (or, should its
      version be gone, the newest row of its key). -#}
  {%- set node = hubs_entity_node(config.get('meta', {}).get('hubs', {}).get('history_of')) -%}
  {%- set key = hubs_primary_key(node) -%}
  {%- set target = arg_dict['target_relation'] -%}
  {%- set source = arg_dict['temp_relation'] -%}
  {%- set cols = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
  insert into hubs_meta.superseded (entity, history, key, row, known_from_seq, known_from, known_to_seq, known_to, reason)
  with newest as (
      select distinct on ({{ hubs_key_tuple(key, 's') }}) {{ hubs_key_tuple(key, 's') }}, s.known_from_seq, s.known_from
      from {{ source }} as s
      order by {{ hubs_key_tuple(key, 's') }}, s.known_from_seq desc nulls last
  )
  select '{{ hubs_entity_label(node) }}', true, {{ hubs_key_json(key, 't') }}, to_jsonb(t), t.known_from_seq, t.known_from,
         coalesce(n.known_from_seq, newest.known_from_seq), coalesce(n.known_from, newest.known_from), 'correction'
  from {{ target }} as t
  join newest on {{ hubs_key_match(key, 'newest', 't') }}
  left join {{ source }} as n on {{ hubs_key_match(key, 'n', 't') }} and n.valid_from = t.valid_from
  where n._landing_seq is distinct from t._landing_seq or n.valid_to is distinct from t.valid_to;
  delete from {{ target }} as t
  using (select distinct {{ key | join(', ') }} from {{ source }}) as s
  where {{ hubs_key_match(key, 't', 's') }};
  insert into {{ target }} ({{ cols }}) select {{ cols }} from {{ source }};
{% endmacro %}


{% macro hubs_advance_watermark() %}
  {#- Post-hook: this model has consumed its staging table up to the newest landed row. -#}
  {%- if execute -%}
  {%- set s = hubs_staging_of(model) -%}
  insert into hubs_meta.watermarks (relation, landing_seq, updated_at)
  select '{{ hubs_watermark_key(this) }}', coalesce(max(_landing_seq), 0), now() from {{ s }}
  on conflict (relation) do update set landing_seq = excluded.landing_seq, updated_at = excluded.updated_at
  {%- endif -%}
{% endmacro %}


{% macro hubs_staging_of(node) %}
  {#- The one staging relation a hub model reads. -#}
  {%- set stg = [] -%}
  {%- for dep in node.depends_on.nodes if dep.split('.')[-1].startswith('stg_') -%}
    {%- do stg.append(graph.nodes[dep]) -%}
  {%- endfor -%}
  {%- if stg | length != 1 -%}
    {{ exceptions.raise_compiler_error(node.name ~ " must read exactly one staging model, reads " ~ stg | length) }}
  {%- endif -%}
  {{ return(api.Relation.create(database=stg[0].database, schema=stg[0].schema, identifier=stg[0].alias or stg[0].name)) }}
{% endmacro %}


{% macro get_incremental_hubs_upsert_sql(arg_dict) %}
  {#- Hub tables: insert new keys, overwrite changed ones (the model only selects changed rows);
      created_at keeps the first acceptance time. The key comes from the contract.
      Unique and exclusion constraints are checked row by row, so the order matters: staging
      accepted some rows only because other keys' rows are replaced in the same batch (a
      handover: A's assignment closed at T, B's opened at T). Those replacing rows are
      clash-free (they clash with nothing old or new), so they go first; then the rest. -#}
  {%- set key = hubs_primary_key(model) -%}
  {%- set cols = arg_dict['dest_columns'] | map(attribute='name') | list -%}
  {%- set stg = hubs_staging_of(model) -%}
  {%- set phased = '_clash_free' in (adapter.get_columns_in_relation(stg) | map(attribute='name') | list) -%}
  {#- the rows about to be overwritten: beliefs ended by the landed rows that replace them -#}
  insert into hubs_meta.superseded (entity, history, key, row, known_from_seq, known_from, known_to_seq, known_to, reason)
  select '{{ hubs_entity_label(model) }}', false, {{ hubs_key_json(key, 'cur') }}, to_jsonb(cur),
         cur._landing_seq, (select s._loaded_at from {{ stg }} as s where s._landing_seq = cur._landing_seq),
         n._landing_seq, (select s._loaded_at from {{ stg }} as s where s._landing_seq = n._landing_seq), 'update'
  from {{ arg_dict['target_relation'] }} as cur
  join {{ arg_dict['temp_relation'] }} as n on {{ hubs_key_match(key, 'cur', 'n') }};
  {%- for phase in (['', 'not '] if phased else [none]) %}
  insert into {{ arg_dict['target_relation'] }} ({{ cols | map('tojson') | join(', ') }})
  select {{ cols | map('tojson') | join(', ') }} from {{ arg_dict['temp_relation'] }} as t
  {%- if phase is not none %}
  where {{ phase }}coalesce((select s._clash_free from {{ stg }} as s where s._landing_seq = t._landing_seq), false)
  {%- endif %}
  on conflict ({{ key | join(', ') }}) do update set
  {%- for c in cols if c not in key and c != 'created_at' %}
    {{ c | tojson }} = excluded.{{ c | tojson }}{{ "," if not loop.last }}
  {%- endfor %};
  {%- endfor %}
{% endmacro %}


{% macro hubs_serialize_ddl() %}
  {#- Pre-hook: creating tables whose foreign keys point at shared parents takes locks on
      those parents; two threads doing it at once can deadlock. First builds take turns. -#}
  {%- if execute and not is_incremental() -%}
  select pg_advisory_xact_lock(hashtext('hubs:create-hub-table'))
  {%- endif -%}
{% endmacro %}


{% macro hubs_feed_index() %}
  {#- Post-hook: the derived stores read "what changed since my watermark" by landing sequence
      (hubs/sync/feed.py), which must cost in proportion to the change, not the table. -#}
  {%- if execute -%}
  create index if not exists {{ this.identifier }}__landing_seq on {{ this }} (_landing_seq)
  {%- endif -%}
{% endmacro %}
