{#
  create_shared_tables: the tables every part of an estate writes to (`query_runs`,
  `coverage`, `reconciliation`), created or given their missing columns once, before the
  part's loader starts (docs/running-at-scale.md).

  Why: target-postgres creates a missing schema, table or column by looking first, then
  creating it, without a lock. Two parts that load into one schema at the same moment
  (a new warehouse, or the first runs after a release that adds a column) both look, both
  create, and one fails ("relation "reconciliation" already exists"). Each part's job runs
  this step first: one transaction that holds a PostgreSQL advisory lock (one per schema)
  while it creates what is missing, so two steps that start together run one after the
  other, and the second finds everything there. A loader that then finds every table and
  column in place changes nothing: no DDL is left to race on.

  The columns and types are the ones target-postgres 0.8.1 makes from the tap's schemas
  (schemas/query_runs.json, coverage.json, reconciliation.json) and key properties, in
  their order: tests/e2e/test_shared_tables.py holds them equal. A column added to one of
  those schemas is added here too, at the end of its table; a column is never changed or
  dropped (target-postgres cannot change a column's type either).

  Run it as `dbt run-operation create_shared_tables` (Meltano: `dbt-postgres:shared-tables`,
  the first step of every part's job); optional argument `schema` (default: the profile's
  schema, target-postgres' `default_target_schema`). PostgreSQL only.
#}
{% macro create_shared_tables(schema=none) %}
  {%- if target.type != 'postgres' -%}
    {{ exceptions.raise_compiler_error('shared tables: PostgreSQL only (this target is ' ~ target.type ~ ')') }}
  {%- endif -%}
  {%- set schema = schema or target.schema -%}
  {%- set tables = _shared_tables() -%}
  {#- One transaction, which holds the lock until it commits; the lock is taken before
      anything is read, so that what this step finds missing is still missing when it
      creates it. The transaction is opened in SQL: after its first COMMIT, dbt-postgres
      sends a run-operation's statements outside any transaction (psycopg2 believes one
      is still open), and a transaction's lock would end with its own statement. -#}
  {%- call statement('shared_tables_begin') -%}begin{%- endcall -%}
  {%- call statement('shared_tables_lock') -%}
    select pg_advisory_xact_lock(hashtextextended({{ _shared_tables_literal('tap-supermetrics shared tables: ' ~ schema) }}, 0))
  {%- endcall -%}
  {%- set found = run_query(
      'select table_name, column_name from information_schema.columns'
      ~ ' where table_schema = ' ~ _shared_tables_literal(schema)
      ~ ' and table_name in (' ~ _shared_tables_names(tables) ~ ')'
  ) -%}
  {%- set existing = {} -%}
  {%- for row in found.rows -%}
    {%- do existing.setdefault(row[0], []).append(row[1]) -%}
  {%- endfor -%}

  {%- set done = [] -%}
  {%- set statements = [] -%}
  {#- Only a missing schema is created: CREATE SCHEMA needs the database's CREATE privilege,
      which a loader that finds its schema made does not need either. -#}
  {%- set schemas = run_query('select 1 from pg_namespace where nspname = ' ~ _shared_tables_literal(schema)) -%}
  {%- if not schemas.rows -%}
    {%- do statements.append('create schema ' ~ adapter.quote(schema)) -%}
    {%- do done.append('created schema ' ~ schema) -%}
  {%- endif -%}
  {%- for name, table in tables.items() -%}
    {%- set relation = adapter.quote(schema) ~ '.' ~ adapter.quote(name) -%}
    {%- if name not in existing -%}
      {%- set columns = [] -%}
      {%- for column, type in table.columns -%}
        {%- do columns.append(adapter.quote(column) ~ ' ' ~ type) -%}
      {%- endfor -%}
      {%- do columns.append('primary key (' ~ (_shared_tables_quoted(table.key) | join(', ')) ~ ')') -%}
      {%- do statements.append('create table ' ~ relation ~ ' (' ~ (columns | join(', ')) ~ ')') -%}
      {%- do done.append('created ' ~ name) -%}
    {%- else -%}
      {%- for column, type in table.columns if column not in existing[name] -%}
        {%- do statements.append('alter table ' ~ relation ~ ' add column ' ~ adapter.quote(column) ~ ' ' ~ type) -%}
        {%- do done.append('added ' ~ name ~ '.' ~ column) -%}
      {%- endfor -%}
    {%- endif -%}
  {%- endfor -%}
  {%- do statements.append('commit') -%}
  {%- for sql in statements -%}
    {%- call statement('shared_tables') -%}{{ sql }}{%- endcall -%}
  {%- endfor -%}
  {{ log('shared tables: ' ~ ((done | join(', ')) if done else 'query_runs, coverage and reconciliation are up to date') ~ ' in ' ~ schema, info=true) }}
  {{ return(done) }}
{% endmacro %}


{#- Each shared table: its columns (name, PostgreSQL type as target-postgres 0.8.1 makes it
    from the JSON schema) in the schema's order, and its key (the stream's key properties). -#}
{% macro _shared_tables() %}
  {%- set text, day, texts, whole, number, flag, stamp, json = 'text', 'date', 'text[]', 'bigint', 'numeric', 'boolean', 'timestamp without time zone', 'jsonb' -%}
  {{ return({
    'query_runs': {
      'key': ['schedule_id'],
      'columns': [
        ('stream', text), ('ds_id', text), ('start_date', day), ('end_date', day),
        ('accounts', texts), ('date_field', text), ('account_field', text), ('reason', text),
        ('schedule_id', text), ('request_id', text), ('status', text), ('total_rows', whole),
        ('run_seconds', number), ('data_sampled', flag), ('cache_used', flag),
        ('submitted_at', stamp), ('finished_at', stamp), ('extracted_at', stamp),
        ('attempts', whole), ('status_polls', whole), ('rows_emitted', whole),
        ('rows_read', whole), ('error', text),
      ],
    },
    'coverage': {
      'key': ['stream', 'account'],
      'columns': [
        ('stream', text), ('account', text), ('date_field', text), ('as_of', day),
        ('loaded', text), ('loaded_days', whole), ('missing', text), ('missing_days', whole),
        ('deferred', text), ('deferred_days', whole), ('failed', text), ('failed_days', whole),
        ('failed_code', text), ('refreshed', json), ('rows_per_day', number),
        ('updated_at', stamp),
      ],
    },
    'reconciliation': {
      'key': ['stream', 'date', 'account', 'metric'],
      'columns': [
        ('stream', text), ('date', day), ('account', text), ('metric', text),
        ('loaded', number), ('source', number), ('difference', number), ('matched', flag),
        ('data_schedule_ids', texts), ('totals_schedule_id', text), ('checked_at', stamp),
      ],
    },
  }) }}
{% endmacro %}


{% macro _shared_tables_literal(value) %}
  {{- return("'" ~ (value | replace("'", "''")) ~ "'") -}}
{% endmacro %}


{% macro _shared_tables_names(tables) %}
  {%- set names = [] -%}
  {%- for name in tables -%}
    {%- do names.append(_shared_tables_literal(name)) -%}
  {%- endfor -%}
  {{ return(names | join(', ')) }}
{% endmacro %}


{% macro _shared_tables_quoted(columns) %}
  {%- set quoted = [] -%}
  {%- for column in columns -%}
    {%- do quoted.append(adapter.quote(column)) -%}
  {%- endfor -%}
  {{ return(quoted) }}
{% endmacro %}
