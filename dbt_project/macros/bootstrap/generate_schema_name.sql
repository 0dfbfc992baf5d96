{#- Schemas are the catalog's names (hub3_origin, staging, ...), not prefixed by the target. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
