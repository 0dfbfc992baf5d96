{#-
  The catalog, read from the manifest at run time. A hub model is an entity when its config
  has meta.hubs.entity; everything below is derived from its contract (columns, data types,
  constraints) and that meta, so nothing about an entity is written twice.
-#}

{% macro hubs_entity_nodes() %}
  {%- set found = [] -%}
  {%- for node in graph.nodes.values() -%}
    {%- if node.resource_type == 'model' and (node.config.meta or {}).get('hubs', {}).get('entity') -%}
      {%- do found.append(node) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(found | sort(attribute='unique_id')) }}
{% endmacro %}


{% macro hubs_entity_node(model_name) %}
  {%- for node in hubs_entity_nodes() if node.name == model_name -%}
    {{ return(node) }}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("no hub model named '" ~ model_name ~ "' with meta.hubs.entity") }}
{% endmacro %}


{% macro hubs_meta(node) %}
  {{ return((node.config.meta or {}).get('hubs', {})) }}
{% endmacro %}


{% macro hubs_history_kind(node) %}
  {#- none | scd2 (versions with valid_from, current row here, all rows in <table>_history) |
      interval (each row is an interval of its own) -#}
  {{ return(hubs_meta(node).get('history', 'none')) }}
{% endmacro %}


{% macro hubs_relation(node, suffix='') %}
  {{ return(api.Relation.create(database=node.database, schema=node.schema,
                                identifier=(node.alias or node.name) ~ suffix)) }}
{% endmacro %}


{% macro hubs_entity_label(node) %}
  {{ return(node.schema ~ '.' ~ (node.alias or node.name)) }}
{% endmacro %}


{% macro hubs_primary_key(node) %}
  {%- for c in node.constraints if c.type == 'primary_key' -%}
    {{ return(c.columns) }}
  {%- endfor -%}
  {%- for col in node.columns.values() -%}
    {%- for c in col.constraints if c.type == 'primary_key' -%}
      {{ return([col.name]) }}
    {%- endfor -%}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("hub model " ~ node.name ~ " has no primary key") }}
{% endmacro %}


{% macro hubs_version_key(node) %}
  {#- What identifies one landed version: the key, plus valid_from for SCD-2 entities. -#}
  {%- set key = hubs_primary_key(node) -%}
  {%- if hubs_history_kind(node) == 'scd2' and 'valid_from' not in key -%}
    {{ return(key + ['valid_from']) }}
  {%- endif -%}
  {{ return(key) }}
{% endmacro %}


{% macro hubs_ref_name(to) %}
  {#- The parent model of an FK: "ref('tractors')" as parsed, or '"db"."hub3_origin"."tractors"'
      once dbt has compiled the constraint. -#}
  {%- set m = modules.re.search("ref\\(\\s*['\"]([A-Za-z0-9_]+)['\"]\\s*\\)", to or '') -%}
  {%- if m -%}{{ return(m.group(1)) }}{%- endif -%}
  {%- set parts = (to or '').replace('"', '').split('.') -%}
  {%- for node in hubs_entity_nodes() if parts | length >= 2 and node.schema == parts[-2] and (node.alias or node.name) == parts[-1] -%}
    {{ return(node.name) }}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("cannot tell which model the foreign key target " ~ to ~ " is") }}
{% endmacro %}


{% macro hubs_fk_target(constraint) %}
  {#- (parent model, parent columns) of an FK written either as to: ref('parent') +
      to_columns, or (self references, which a ref would turn into a dbt cycle) as
      expression: "schema.table (columns)". -#}
  {%- if constraint.to -%}
    {{ return([hubs_ref_name(constraint.to), constraint.to_columns]) }}
  {%- endif -%}
  {%- set m = modules.re.match("\\s*([\\w\".]+)\\s*\\(([^)]*)\\)\\s*$", constraint.expression or '') -%}
  {%- if not m -%}
    {{ exceptions.raise_compiler_error("cannot read foreign key " ~ constraint) }}
  {%- endif -%}
  {%- set columns = [] -%}
  {%- for c in m.group(2).split(',') -%}{%- do columns.append(c | trim) -%}{%- endfor -%}
  {{ return([hubs_ref_name(m.group(1)), columns]) }}
{% endmacro %}


{% macro hubs_foreign_keys(node) %}
  {#- [{columns, parent, parent_columns}] from column- and model-level FK constraints -#}
  {%- set fks = [] -%}
  {%- for col in node.columns.values() -%}
    {%- for c in col.constraints if c.type == 'foreign_key' -%}
      {%- set target = hubs_fk_target(c) -%}
      {%- do fks.append({'columns': [col.name], 'parent': target[0], 'parent_columns': target[1]}) -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- for c in node.constraints if c.type == 'foreign_key' -%}
    {%- set target = hubs_fk_target(c) -%}
    {%- do fks.append({'columns': c.columns, 'parent': target[0], 'parent_columns': target[1]}) -%}
  {%- endfor -%}
  {{ return(fks) }}
{% endmacro %}


{% macro hubs_checks(node) %}
  {#- [{name, expression}] from column- and model-level CHECK constraints -#}
  {%- set checks = [] -%}
  {%- for col in node.columns.values() -%}
    {%- for c in col.constraints if c.type == 'check' -%}
      {#- PostgreSQL names an unnamed column check <table>_<column>_check; say the same -#}
      {%- do checks.append({'name': c.name or ((node.alias or node.name) ~ '_' ~ col.name ~ '_check'), 'expression': c.expression, 'column': col.name}) -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- for c in node.constraints if c.type == 'check' -%}
    {%- do checks.append({'name': c.name or ((node.alias or node.name) ~ '_check_' ~ loop.index), 'expression': c.expression, 'column': none}) -%}
  {%- endfor -%}
  {{ return(checks) }}
{% endmacro %}


{% macro hubs_uniques(node) %}
  {#- column lists that must be unique besides the primary key -#}
  {%- set uniques = [] -%}
  {%- for col in node.columns.values() -%}
    {%- for c in col.constraints if c.type == 'unique' -%}
      {%- do uniques.append([col.name]) -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- for c in node.constraints if c.type == 'unique' -%}
    {%- do uniques.append(c.columns) -%}
  {%- endfor -%}
  {{ return(uniques) }}
{% endmacro %}


{% macro hubs_not_null_columns(node) %}
  {%- set cols = [] -%}
  {%- for col in node.columns.values() -%}
    {%- for c in col.constraints if c.type in ('not_null', 'primary_key') -%}
      {%- do cols.append(col.name) -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return(cols | unique | list) }}
{% endmacro %}


{% macro hubs_exclusions(node) %}
  {#- Parses "exclude using gist (a with =, b with =, tstzrange(x, y) with &&)" custom
      constraints into [{name, elements: [{expression, operator}]}], so staging can reject
      overlapping rows before the database would. -#}
  {%- set found = [] -%}
  {%- for c in node.constraints if c.type == 'custom' -%}
    {%- set m = modules.re.match("(?is)\\s*exclude\\s+using\\s+gist\\s*\\((.*)\\)\\s*$", c.expression) -%}
    {%- if m -%}
      {%- set elements = [] -%}
      {%- for part in modules.re.split(",(?![^()]*\\))", m.group(1)) -%}
        {%- set e = modules.re.match("(?is)\\s*(.*\\S)\\s+with\\s+(=|&&)\\s*$", part) -%}
        {%- if not e -%}
          {{ exceptions.raise_compiler_error("cannot read exclusion element '" ~ part ~ "' of " ~ node.name) }}
        {%- endif -%}
        {%- do elements.append({'expression': e.group(1), 'operator': e.group(2)}) -%}
      {%- endfor -%}
      {%- do found.append({'name': c.name or (node.name ~ '_excl_' ~ loop.index), 'elements': elements}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(found) }}
{% endmacro %}


{% macro hubs_children(node) %}
  {#- [{node, columns, parent_columns}] for every entity whose foreign keys point at node -#}
  {%- set children = [] -%}
  {%- for other in hubs_entity_nodes() -%}
    {%- for fk in hubs_foreign_keys(other) if fk.parent == node.name -%}
      {%- do children.append({'node': other, 'columns': fk.columns, 'parent_columns': fk.parent_columns}) -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return(children) }}
{% endmacro %}


{% macro hubs_children_first() %}
  {#- Entities ordered so that every entity comes before the entities it references. -#}
  {%- set nodes = hubs_entity_nodes() -%}
  {%- set parents = {} -%}
  {%- for n in nodes -%}
    {%- do parents.update({n.name: hubs_foreign_keys(n) | map(attribute='parent') | reject('equalto', n.name) | list}) -%}
  {%- endfor -%}
  {%- set ns = namespace(order=[], remaining=nodes | map(attribute='name') | list) -%}
  {%- for _ in nodes -%}
    {%- for name in ns.remaining -%}
      {%- set ns2 = namespace(referenced=false) -%}
      {%- for other in ns.remaining if other != name and name in parents[other] -%}
        {%- set ns2.referenced = true -%}
      {%- endfor -%}
      {%- if not ns2.referenced and name not in ns.order -%}
        {%- set ns.order = ns.order + [name] -%}
      {%- endif -%}
    {%- endfor -%}
    {%- set ns.remaining = ns.remaining | reject('in', ns.order) | list -%}
  {%- endfor -%}
  {%- if ns.remaining -%}
    {{ exceptions.raise_compiler_error("foreign keys form a cycle among " ~ ns.remaining | join(', ')) }}
  {%- endif -%}
  {%- set ordered = [] -%}
  {%- for name in ns.order -%}
    {%- for n in nodes if n.name == name -%}{%- do ordered.append(n) -%}{%- endfor -%}
  {%- endfor -%}
  {{ return(ordered) }}
{% endmacro %}


{% macro hubs_key_tuple(columns, alias) %}
  {%- for c in columns -%}{{ alias }}.{{ adapter.quote(c) }}{{ ", " if not loop.last }}{%- endfor -%}
{% endmacro %}


{% macro hubs_key_match(columns, left, right, right_columns=none) %}
  {%- set rc = right_columns or columns -%}
  {%- for c in columns -%}
    {{ left }}.{{ adapter.quote(c) }} = {{ right }}.{{ adapter.quote(rc[loop.index0]) }}{{ " and " if not loop.last }}
  {%- endfor -%}
{% endmacro %}


{% macro hubs_key_json(columns, alias) %}
  jsonb_build_object({%- for c in columns -%}'{{ c }}', {{ alias }}.{{ adapter.quote(c) }}{{ ", " if not loop.last }}{%- endfor -%})
{% endmacro %}
