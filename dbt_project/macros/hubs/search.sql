{#-
  Keyword search (hubs/recall/keyword.py) reads the text columns an entity embeds for the
  vector store (meta.hubs.vectors.text) as one English tsvector. This post-hook indexes that
  expression with GIN; keyword.py writes the same expression, so PostgreSQL matches the two
  and a search costs the hits, not the table. Text columns are read as text, jsonb ones by
  their string values (both immutable, as an index expression must be).
-#}

{% macro hubs_search_document(columns, vectors) %}
  {%- set parts = [] -%}
  {%- for name in vectors.text -%}
    {%- set data_type = (columns[name].data_type or 'text') | lower -%}
    {%- if data_type == 'jsonb' -%}
      {%- do parts.append("to_tsvector('english'::regconfig, coalesce(" ~ adapter.quote(name) ~ ", '{}'::jsonb))") -%}
    {%- else -%}
      {%- do parts.append("to_tsvector('english'::regconfig, coalesce(" ~ adapter.quote(name) ~ ", ''::text))") -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(parts | join(' || ')) }}
{% endmacro %}


{% macro hubs_search_index() %}
  {%- if execute -%}
  {%- set vectors = ((model.config.meta or {}).get('hubs') or {}).get('vectors') -%}
  {%- if vectors and vectors.get('text') -%}
  create index if not exists {{ this.identifier }}__search on {{ this }}
    using gin (({{ hubs_search_document(model.columns, vectors) }}))
  {%- endif -%}
  {%- endif -%}
{% endmacro %}
