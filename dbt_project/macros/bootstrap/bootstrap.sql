{#-
  on-run-start: the functions and bookkeeping tables that models and contracts rely on.
  Idempotent and cheap, so every dbt invocation (alone or from Dagster) can run it.
  Landing tables are created by the loader (`hubs up` / `hubs load`) from the same catalog.
-#}

{% macro hubs_bootstrap() %}
do $$
begin
  if to_regclass('landing._files') is null then
    raise exception 'landing tables are missing: run `hubs up` (or `hubs load`) once against this database first';
  end if;
end $$;

create extension if not exists btree_gist;
create schema if not exists hubs_util;
create schema if not exists hubs_meta;
create schema if not exists quarantine;

create or replace function hubs_util.truthy(value text) returns boolean
language sql immutable parallel safe as $fn$
  select case lower(btrim(value))
    when 'true' then true when 't' then true when '1' then true when 'yes' then true when 'y' then true
    when 'false' then false when 'f' then false when '0' then false when 'no' then false when 'n' then false
  end
$fn$;

-- Whether JSON text nests deeper than max_depth. PostgreSQL's JSON parser recurses and fails
-- with "stack depth limit exceeded" (a hard error, even inside pg_input_is_valid) on very deep
-- values, so the depth must be known before parsing. Values with no more brackets than the
-- limit cannot be that deep (the common path: one translate); the others are measured by
-- dropping strings, then peeling innermost bracket pairs one level per pass.
create or replace function hubs_util.json_too_deep(value text, max_depth integer) returns boolean
language plpgsql immutable strict parallel safe as $fn$
declare
  rest text;
  peeled text;
begin
  if length(value) - length(translate(value, '[{', '')) <= max_depth then
    return false;
  end if;
  rest := regexp_replace(regexp_replace(value, '"(\\.|[^"\\])*"', '', 'g'), '[^][{}]', '', 'g');
  for level in 1 .. max_depth loop
    peeled := regexp_replace(rest, '[[{][]}]', '', 'g');
    if peeled = '' then
      return false;
    elsif peeled = rest then
      -- unbalanced (not valid JSON): the parser would stop at the first unmatched bracket,
      -- after at most this many levels
      return level - 1 + length(rest) - length(translate(rest, '[{', '')) > max_depth;
    end if;
    rest := peeled;
  end loop;
  return true;
end
$fn$;

-- JSON arrays ('["H","N"]') are accepted wherever the contract has a PostgreSQL array.
create or replace function hubs_util.array_input(value text) returns text
language sql immutable parallel safe as $fn$
  select case
    when left(value, 1) = '[' and not hubs_util.json_too_deep(value, 64) then case
      when pg_input_is_valid(value, 'jsonb') and jsonb_typeof(value::jsonb) = 'array'
      then (select coalesce(array_agg(e), '{}')::text from jsonb_array_elements_text(value::jsonb) as e)
      else value end
    else value
  end
$fn$;

-- ISO 3779 check digit (position 9), no I, O or Q.
create or replace function hubs_util.vin_is_valid(vin text) returns boolean
language sql immutable strict parallel safe as $fn$
  select vin ~ '^[A-HJ-NPR-Z0-9]{17}$' and substr(vin, 9, 1) = (
    select case when total % 11 = 10 then 'X' else (total % 11)::text end
    from (
      select sum(translate(substr(vin, i, 1), 'ABCDEFGHJKLMNPRSTUVWXYZ', '12345678123457923456789')::int
                 * (array[8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2])[i]) as total
      from generate_series(1, 17) as i
    ) as weighted
  )
$fn$;

-- Jurisdictions: US states, DC and Canadian provinces/territories; IFTA's 58 are the 48
-- contiguous states and the 10 provinces (not AK, HI, DC, YT, NT, NU).
create or replace function hubs_util.is_us_ca_jurisdiction(code text) returns boolean
language sql immutable strict parallel safe as $fn$
  select code = any (array[
    'AL','AK','AZ','AR','CA','CO','CT','DE','FL','GA','HI','ID','IL','IN','IA','KS','KY','LA',
    'ME','MD','MA','MI','MN','MS','MO','MT','NE','NV','NH','NJ','NM','NY','NC','ND','OH','OK',
    'OR','PA','RI','SC','SD','TN','TX','UT','VT','VA','WA','WV','WI','WY','DC',
    'AB','BC','MB','NB','NL','NS','NT','NU','ON','PE','QC','SK','YT'])
$fn$;

create or replace function hubs_util.is_ifta_jurisdiction(code text) returns boolean
language sql immutable strict parallel safe as $fn$
  select hubs_util.is_us_ca_jurisdiction(code) and code <> all (array['AK','HI','DC','YT','NT','NU'])
$fn$;

create table if not exists hubs_meta.watermarks (
  relation text primary key,
  landing_seq bigint not null,
  updated_at timestamptz not null default now()
);
-- Keys were once "database"."schema"."table": progress under such a key is read again once.
delete from hubs_meta.watermarks where relation like '%"%';

create table if not exists quarantine.rows (
  _landing_seq bigint primary key,
  entity text not null,
  file_id bigint not null,
  row_number bigint not null,
  reasons text[] not null check (cardinality(reasons) > 0),
  raw jsonb not null,
  quarantined_at timestamptz not null default now()
);
create index if not exists rows_entity on quarantine.rows (entity, _landing_seq);
comment on table quarantine.rows is 'Landed rows that were not accepted, with the rules they broke and their raw values.';

-- Transaction time: beliefs the platform held and no longer holds, each with the landed rows
-- that brought it (known_from) and ended it (known_to: an update, a correction of a version's
-- bounds, a delete). What is believed now stays in the hub tables and <table>_history.
create table if not exists hubs_meta.superseded (
  entity text not null,
  history boolean not null,
  key jsonb not null,
  row jsonb not null,
  known_from_seq bigint,
  known_from timestamptz,
  known_to_seq bigint not null,
  known_to timestamptz,
  reason text not null check (reason in ('update', 'correction', 'delete')),
  superseded_at timestamptz not null default now()
);
create index if not exists superseded_key on hubs_meta.superseded (entity, history, key);
create index if not exists superseded_seq on hubs_meta.superseded (entity, history, known_to_seq);
comment on table hubs_meta.superseded is
  'Rows of hub tables (history = false) and of <table>_history (true) that a later landed row replaced, corrected or deleted, with when each was believed.';
{{ hubs_history_known_columns() }}
{% endmacro %}


{% macro hubs_history_known_columns() %}
  {#- <table>_history tables made before transaction time was recorded gain its columns (their
      rows keep NULL: believed since before it was recorded). Checked first, so no lock is
      taken once they are there. -#}
  {%- if execute %}
do $$
begin
  {%- for node in hubs_entity_nodes() if hubs_history_kind(node) == 'scd2' %}
  {%- set history = hubs_relation(node, '_history') %}
  if to_regclass('{{ history }}') is not null and not exists (
      select 1 from pg_attribute where attrelid = to_regclass('{{ history }}') and attname = 'known_from_seq') then
    alter table {{ history }} add column known_from_seq bigint, add column known_from timestamptz;
  end if;
  {%- endfor %}
end $$;
  {%- endif %}
{% endmacro %}
