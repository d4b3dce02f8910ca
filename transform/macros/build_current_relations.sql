{#
  build_current_relations: next to every query stream's raw table, the view
  `<stream>_current` with the same columns, holding only the rows of the latest query that
  read each day (and account, when rows carry an account column).

  Generic over the configured streams: the tap's `query_runs` table names each stream and
  its date and account columns (`date_field`, `account_field`); every record carries
  `_sm_extracted_at`, one stamp per query execution and window, later queries later.
  Rows loaded before that column existed have NULL there: they count as the oldest, so
  they stay current until a newer query reads their day.

  A stream without a date field (full table) is partitioned by account only (or not at
  all): its current view holds the rows of its latest query.

  Run it as `dbt run-operation build_current_relations` (Meltano: `dbt-postgres:current`,
  `dbt-duckdb:current`); optional argument `schema` (default: the profile's schema).
#}
{% macro build_current_relations(schema=none) %}
  {%- set schema = schema or target.schema -%}
  {%- set runs = adapter.get_relation(database=target.database, schema=schema, identifier='query_runs') -%}
  {%- if runs is none -%}
    {{ log('current relations: no table ' ~ schema ~ '.query_runs yet: nothing to build', info=true) }}
    {{ return([]) }}
  {%- endif -%}
  {%- set run_columns = adapter.get_columns_in_relation(runs) | map(attribute='name') | map('lower') | list -%}
  {%- if 'date_field' not in run_columns or 'account_field' not in run_columns -%}
    {{ log('current relations: ' ~ runs ~ ' has no date_field/account_field columns yet (written by an older tap): nothing to build', info=true) }}
    {{ return([]) }}
  {%- endif -%}

  {#- A stream's latest query tells its columns (they change only when its query does). -#}
  {%- set streams = run_query(
      'select stream, date_field, account_field from ('
      ~ ' select stream, date_field, account_field, row_number() over ('
      ~ ' partition by stream order by finished_at desc nulls last, schedule_id desc) as newest'
      ~ ' from ' ~ runs ~ ') as latest where newest = 1 order by stream'
  ) -%}

  {%- set built = [] -%}
  {%- set problems = [] -%}
  {%- for row in streams.rows -%}
    {%- set outcome = _current_relation_for(schema, row[0], row[1], row[2]) -%}
    {%- if outcome.startswith('error: ') -%}
      {%- do problems.append(outcome[7:]) -%}
    {%- elif outcome -%}
      {%- do built.append(outcome) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ log('current relations: built ' ~ (built | length) ~ ' in ' ~ schema ~ (': ' ~ (built | join(', ')) if built else ''), info=true) }}
  {%- if problems -%}
    {{ exceptions.raise_compiler_error('current relations: ' ~ (problems | join('; '))) }}
  {%- endif -%}
  {{ return(built) }}
{% endmacro %}


{#- One stream: returns the view's name, '' when there is nothing to build, or 'error: …'. -#}
{% macro _current_relation_for(schema, stream, date_field, account_field) %}
  {%- set view_name = stream ~ '_current' -%}
  {%- if target.type == 'postgres' and (view_name | length) > 63 -%}
    {{ return('error: ' ~ view_name ~ ' is longer than PostgreSQL\'s 63-character limit for names') }}
  {%- endif -%}
  {%- set source = adapter.get_relation(database=target.database, schema=schema, identifier=stream) -%}
  {%- if source is none -%}
    {{ log('current relations: ' ~ schema ~ '.' ~ stream ~ ' does not exist: skipped', info=true) }}
    {{ return('') }}
  {%- endif -%}
  {%- set columns = adapter.get_columns_in_relation(source) -%}
  {%- set by_name = {} -%}
  {%- for column in columns -%}
    {%- do by_name.update({column.name | lower: column.name}) -%}
  {%- endfor -%}

  {%- set partition = [] -%}
  {%- for wanted in [date_field, account_field] if wanted -%}
    {%- if (wanted | lower) not in by_name -%}
      {{ return('error: ' ~ source ~ ' has no column ' ~ wanted) }}
    {%- endif -%}
    {%- do partition.append(adapter.quote(by_name[wanted | lower])) -%}
  {%- endfor -%}

  {%- set selected = [] -%}
  {%- for column in columns -%}
    {%- do selected.append(adapter.quote(column.name)) -%}
  {%- endfor -%}
  {%- if '_sm_extracted_at' in by_name -%}
    {#- An untyped literal takes the column's type (timestamp, timestamptz or text). -#}
    {%- set stamp = "coalesce(raw." ~ adapter.quote(by_name['_sm_extracted_at']) ~ ", '1970-01-01 00:00:00')" -%}
    {%- set body -%}
select {{ selected | join(', ') }}
from (
    select raw.*,
        {{ stamp }} as _sm_row_stamp,
        max({{ stamp }}) over ({{ ('partition by ' ~ (partition | join(', '))) if partition else '' }}) as _sm_latest_stamp
    from {{ source.include(database=false) }} as raw
) as stamped
where _sm_row_stamp = _sm_latest_stamp
    {%- endset -%}
  {%- else -%}
    {{ log('current relations: ' ~ source ~ ' has no _sm_extracted_at column yet: ' ~ view_name ~ ' shows every row', info=true) }}
    {%- set body = 'select ' ~ (selected | join(', ')) ~ ' from ' ~ source.include(database=false) -%}
  {%- endif -%}

  {%- set view = api.Relation.create(database=source.database, schema=source.schema, identifier=view_name, type='view').include(database=false) -%}
  {%- set existing = adapter.get_relation(database=source.database, schema=source.schema, identifier=view_name) -%}
  {%- if existing is not none and not existing.is_view -%}
    {{ return('error: ' ~ existing ~ ' exists and is not a view: not replaced') }}
  {%- endif -%}
  {#- Replace in place while the old columns lead the new ones (columns are only ever
      added at the end), so views built on top survive; otherwise drop and create. -#}
  {%- set old = {'leads': true} -%}
  {%- if existing is not none -%}
    {%- set old_columns = adapter.get_columns_in_relation(existing) -%}
    {%- if (old_columns | length) > (columns | length) -%}
      {%- do old.update({'leads': false}) -%}
    {%- endif -%}
    {%- for column in old_columns if old.leads -%}
      {%- set new = columns[loop.index0] -%}
      {%- if column.name != new.name or column.dtype != new.dtype -%}
        {%- do old.update({'leads': false}) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  {%- set statements = [] if old.leads else ['drop view if exists ' ~ view] -%}
  {%- do statements.append('create or replace view ' ~ view ~ ' as\n' ~ body) -%}
  {#- One transaction: PostgreSQL readers see the old view until the new one is there. -#}
  {%- for sql in statements -%}
    {%- call statement('current_relation', auto_begin=true) -%}{{ sql }}{%- endcall -%}
  {%- endfor -%}
  {%- do adapter.commit() -%}
  {{ return(view_name) }}
{% endmacro %}
