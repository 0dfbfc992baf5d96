{% macro hubs_analyze_if_new() %}
  {#- Post-hook: a table built for the first time has no statistics until autovacuum gets to it
      (a minute or more later), and the tests that run right after it are planned blind. At
      scale 10, Q3.5 took 612 s that way: three equality filters on hos_events, estimated at
      one row of 8 M, became a nested loop against every driver (1.1 s once analyzed). Only a
      table without statistics is analyzed, so a refresh pays one catalog lookup per model. -#}
  {%- if execute -%}
  do $$
  begin
    if not exists (select 1 from pg_stats where schemaname = '{{ this.schema }}' and tablename = '{{ this.identifier }}') then
      analyze {{ this }};
    end if;
  end
  $$
  {%- endif -%}
{% endmacro %}
