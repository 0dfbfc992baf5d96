{#-
  The delete pass (pre-hook of meta/hub_deletions), run before any staging model. Landed rows
  with _deleted = true remove their key from the hub table (and its history), children before
  parents so a parent and its children deleted in one load all go in one run. A delete whose
  key is still referenced by a row that stays is refused; staging then quarantines it with the
  reason. Every applied or refused delete is logged in hubs_meta.hub_deletions, the feed the
  derived stores replay.
-#}

{% macro hubs_apply_deletes() %}
{%- if execute %}
{%- set asking = hubs_landings_asking_deletes() %}
create temporary table if not exists _hubs_deleted (
    entity text, key jsonb, _landing_seq bigint, status text, reason text
) on commit drop;
{%- for node in hubs_children_first() %}
{%- set hub = adapter.get_relation(node.database, node.schema, node.alias or node.name) %}
{%- set landing = adapter.get_relation(node.database, 'landing', node.schema ~ '__' ~ (node.alias or node.name)) %}
{%- if hub is none and landing is not none %}
{#- Nothing to delete from yet: the hub build will honour these deletes as barriers. #}
insert into hubs_meta.watermarks (relation, landing_seq, updated_at)
select 'deletions:{{ hubs_watermark_key(landing) }}', max(_landing_seq), now() from {{ landing }} having count(*) > 0
on conflict (relation) do update set landing_seq = excluded.landing_seq, updated_at = excluded.updated_at;
{%- elif landing is not none and hubs_watermark_key(landing) not in asking %}
{#- No delete landed past the pass's mark: only the mark moves (the statement below would type
    every new row to find none; 34 tables of a 1% change cost 3 s that way). #}
insert into hubs_meta.watermarks (relation, landing_seq, updated_at)
select 'deletions:{{ hubs_watermark_key(landing) }}', max(_landing_seq), now() from {{ landing }}
where _landing_seq > {{ hubs_watermark_sql('deletions:' ~ hubs_watermark_key(landing)) }} having count(*) > 0
on conflict (relation) do update set landing_seq = excluded.landing_seq, updated_at = excluded.updated_at;
{%- elif landing is not none %}
{%- set entity = hubs_entity_label(node) %}
{%- set key = hubs_primary_key(node) %}
{%- set children = hubs_children(node) %}
{%- set history = adapter.get_relation(node.database, node.schema, (node.alias or node.name) ~ '_history') if hubs_history_kind(node) == 'scd2' else none %}
{%- set watermark = 'deletions:' ~ hubs_watermark_key(landing) %}
with
{{ hubs_typed_batch(landing, node, hubs_watermark_sql(watermark)) }},
requested as (
    select distinct on ({{ hubs_key_tuple(key, 'c') }}) c._landing_seq, c._loaded_at, {{ hubs_key_tuple(key, 'c') }}
    from counted as c
    where c._is_delete and c._dup_count = 1 and cardinality(c._type_errors) = 0
    order by {{ hubs_key_tuple(key, 'c') }}, c._landing_seq desc
),
present as (
    select r.* from requested as r
    join {{ hub }} as h on {{ hubs_key_match(key, 'h', 'r') }} and h._landing_seq < r._landing_seq
),
referenced as (
    select null::bigint as _landing_seq, null::text as child, null::bigint as n where false
    {%- for child in children %}
    {%- set child_hub = adapter.get_relation(child.node.database, child.node.schema, child.node.alias or child.node.name) %}
    {%- if child_hub is not none %}
    union all
    select r._landing_seq, '{{ hubs_entity_label(child.node) }}', count(*)
    from present as r
    join {{ child_hub }} as k on {{ hubs_key_match(child.parent_columns, 'r', 'k', child.columns) }}
    {%- if child.node.name == node.name %}
    where ({{ hubs_key_tuple(key, 'k') }}) not in (select {{ hubs_key_tuple(key, 'p') }} from present as p)
    {%- endif %}
    group by r._landing_seq
    {%- endif %}
    {%- endfor %}
),
deleted as (
    delete from {{ hub }} as h
    using present as r
    where {{ hubs_key_match(key, 'h', 'r') }}
      and r._landing_seq not in (select x._landing_seq from referenced as x)
    returning r._landing_seq, r._loaded_at, h._landing_seq as _from_seq, to_jsonb(h) as _row, {{ hubs_key_tuple(key, 'h') }}
),
{#- what was believed until the delete, kept with when it was believed (hubs_meta.superseded) #}
deleted_logged as (
    insert into hubs_meta.superseded (entity, history, key, row, known_from_seq, known_from, known_to_seq, known_to, reason)
    select '{{ entity }}', false, {{ hubs_key_json(key, 'd') }}, d._row, d._from_seq,
           (select f.loaded_at from {{ landing }} as l join landing._files as f on f.file_id = l._file_id
            where l._landing_seq = d._from_seq),
           d._landing_seq, d._loaded_at, 'delete'
    from deleted as d
    returning 1
),
{%- if history is not none %}
history_deleted as (
    delete from {{ history }} as x using deleted as d where {{ hubs_key_match(key, 'x', 'd') }}
    returning d._landing_seq, d._loaded_at, x.known_from_seq, x.known_from, to_jsonb(x) as _row, {{ hubs_key_json(key, 'x') }} as _key
),
history_logged as (
    insert into hubs_meta.superseded (entity, history, key, row, known_from_seq, known_from, known_to_seq, known_to, reason)
    select '{{ entity }}', true, x._key, x._row, x.known_from_seq, x.known_from, x._landing_seq, x._loaded_at, 'delete'
    from history_deleted as x
    returning 1
),
{%- endif %}
advanced as (
    insert into hubs_meta.watermarks (relation, landing_seq, updated_at)
    select '{{ watermark }}', max(_landing_seq), now() from counted having count(*) > 0
    on conflict (relation) do update set landing_seq = excluded.landing_seq, updated_at = excluded.updated_at
    returning 1
)
insert into _hubs_deleted (entity, key, _landing_seq, status, reason)
select '{{ entity }}', {{ hubs_key_json(key, 'd') }}, d._landing_seq, 'applied', null
from deleted as d
union all
select '{{ entity }}', {{ hubs_key_json(key, 'r') }}, r._landing_seq, 'refused',
       'delete_refused: still referenced by ' || string_agg(x.n || ' row(s) of ' || x.child, ', ')
       || '; delete or re-point those first'
from present as r
join referenced as x on x._landing_seq = r._landing_seq
group by r._landing_seq, {{ hubs_key_tuple(key, 'r') }};
{%- endif %}
{%- endfor %}
{%- endif %}
{% endmacro %}


{% macro hubs_landings_asking_deletes() %}
  {#- The landing tables (as their watermark keys) holding a row marked deleted past the delete
      pass's mark, in one query: a row read once, only if it landed since the last pass. -#}
  {%- set asks = [] %}
  {%- for node in hubs_children_first() %}
    {%- set landing = adapter.get_relation(node.database, 'landing', node.schema ~ '__' ~ (node.alias or node.name)) %}
    {%- if landing is not none %}
      {%- do asks.append("select '" ~ hubs_watermark_key(landing) ~ "' as landing where exists (select 1 from "
          ~ landing ~ " as l where l._landing_seq > "
          ~ hubs_watermark_sql('deletions:' ~ hubs_watermark_key(landing))
          ~ " and coalesce(hubs_util.truthy(nullif(btrim(l._deleted), '')), false))") %}
    {%- endif %}
  {%- endfor %}
  {%- if not asks %}{{ return([]) }}{% endif %}
  {{ return(run_query(asks | join('\nunion all\n')).columns[0].values() | list) }}
{%- endmacro %}
