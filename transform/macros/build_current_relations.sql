{#
  build_current_relations: next to every query stream's raw table, the view
  `<stream>_current` with the same columns, holding per day and account the rows of the
  latest successful query that read that day and account: none if it answered none.

  Generic over the configured streams: the tap's `query_runs` table names each stream and
  its date and account columns (`date_field`, `account_field`). Every record carries
  `_sm_extracted_at`, one stamp per window read (later reads later), and each
  `query_runs` record says which days (`start_date`..`end_date`) and `accounts` its
  query read and, once it succeeded, the stamp of its rows (`extracted_at`).

  The rule, per stream (the partition is the date and account columns the rows carry):
  - For every (day, account) that a SUCCESS run read, the latest such run's stamp is
    the current one: the view holds the rows with that stamp, so a day whose rows all
    vanished upstream shows none, and a day whose latest query failed keeps the rows of
    the query before. Rows with a newer stamp than that stay too: target-postgres
    overwrites a row whose key comes again, so while a run loads (its `query_runs`
    record comes last), or after one that died or failed part-way, the older query's
    rows are only complete together with the newer ones that replaced some of them.
  - A (day, account) that no such run read (rows loaded before `query_runs` had
    `extracted_at`, runs whose `accounts` are an opaque team list or none, account
    values that are not the ids given in `ds_accounts`) keeps the older rule: the rows
    with the latest stamp among its raw rows. Rows loaded before `_sm_extracted_at`
    existed have NULL there and count as the oldest.
  - Without an account column (rows summed over the accounts) the partition is the day;
    without a date field (a full table) the account, or nothing: the latest run's stamp.

  Run it as `dbt run-operation build_current_relations` (Meltano: `dbt-postgres:current`,
  `dbt-duckdb:current`); optional argument `schema` (default: the profile's schema).
  The SQL runs on PostgreSQL and DuckDB; what differs between them (expanding a run's
  days and its accounts) is in the dispatched macros at the end.
#}
{% macro build_current_relations(schema=none) %}
  {%- set schema = schema or target.schema -%}
  {%- set runs = adapter.get_relation(database=target.database, schema=schema, identifier='query_runs') -%}
  {%- if runs is none -%}
    {{ log('current relations: no table ' ~ schema ~ '.query_runs yet: nothing to build', info=true) }}
    {{ return([]) }}
  {%- endif -%}
  {%- set run_columns = _current_columns_by_name(adapter.get_columns_in_relation(runs)) -%}
  {%- if 'date_field' not in run_columns or 'account_field' not in run_columns -%}
    {{ log('current relations: ' ~ runs ~ ' has no date_field/account_field columns yet (written by an older tap): nothing to build', info=true) }}
    {{ return([]) }}
  {%- endif -%}
  {%- set run_log = {'relation': runs, 'columns': run_columns} -%}
  {%- if 'extracted_at' not in run_columns -%}
    {{ log('current relations: ' ~ runs ~ ' has no extracted_at column yet (written by an older tap): the views keep the latest rows of each day and account', info=true) }}
    {%- do run_log.update({'relation': none}) -%}
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
    {%- set outcome = _current_relation_for(schema, row[0], row[1], row[2], run_log) -%}
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


{#- Columns keyed by lower-cased name (target-duckdb lower-cases names, target-postgres does not). -#}
{% macro _current_columns_by_name(columns) %}
  {%- set by_name = {} -%}
  {%- for column in columns -%}
    {%- do by_name.update({column.name | lower: column}) -%}
  {%- endfor -%}
  {{ return(by_name) }}
{% endmacro %}


{#- One stream: returns the view's name, '' when there is nothing to build, or 'error: …'. -#}
{% macro _current_relation_for(schema, stream, date_field, account_field, run_log) %}
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
  {%- set by_name = _current_columns_by_name(columns) -%}
  {%- set partition = {} -%}
  {%- for role, wanted in [('day', date_field), ('account', account_field)] if wanted -%}
    {%- if (wanted | lower) not in by_name -%}
      {{ return('error: ' ~ source ~ ' has no column ' ~ wanted) }}
    {%- endif -%}
    {%- do partition.update({role: by_name[wanted | lower]}) -%}
  {%- endfor -%}

  {%- if '_sm_extracted_at' in by_name -%}
    {%- set body = _current_select(source, columns, by_name['_sm_extracted_at'], partition, stream, run_log) -%}
  {%- else -%}
    {{ log('current relations: ' ~ source ~ ' has no _sm_extracted_at column yet: ' ~ view_name ~ ' shows every row', info=true) }}
    {%- set body = 'select ' ~ (_current_quoted(columns) | join(', ')) ~ ' from ' ~ source.include(database=false) -%}
  {%- endif -%}
  {{ return(_current_replace_view(source, view_name, columns, body)) }}
{% endmacro %}


{% macro _current_quoted(columns) %}
  {%- set quoted = [] -%}
  {%- for column in columns -%}
    {%- do quoted.append(adapter.quote(column.name)) -%}
  {%- endfor -%}
  {{ return(quoted) }}
{% endmacro %}


{#- The view's query: each raw row stays when its stamp is at least its partition's
    current stamp: the latest successful run's where one read it (`latest`), else the
    latest among the partition's raw rows. -#}
{% macro _current_select(source, columns, stamp_column, partition, stream, run_log) %}
  {#- An untyped literal takes the column's type (timestamp, timestamptz or text). -#}
  {%- set stamp = "coalesce(raw." ~ adapter.quote(stamp_column.name) ~ ", '1970-01-01 00:00:00')" -%}
  {%- set keys = [] -%}
  {%- for role in ['day', 'account'] if role in partition -%}
    {%- do keys.append('raw.' ~ adapter.quote(partition[role].name)) -%}
  {%- endfor -%}
  {%- set latest = _current_latest_runs(run_log, stream, partition, stamp_column) if run_log.relation is not none else '' -%}
  {%- set body -%}
select {{ _current_quoted(columns) | join(', ') }}
from (
    select raw.*,
        {{ stamp }} as _sm_row_stamp,
        {{ 'latest._sm_run_stamp' if latest else 'cast(null as ' ~ stamp_column.data_type ~ ')' }} as _sm_run_stamp,
        max({{ stamp }}) over ({{ ('partition by ' ~ (keys | join(', '))) if keys else '' }}) as _sm_raw_stamp
    from {{ source.include(database=false) }} as raw
    {%- if latest %}
    left join (
        {{ latest }}
    ) as latest on {{ _current_join_condition(partition) }}
    {%- endif %}
) as stamped
where _sm_row_stamp >= coalesce(_sm_run_stamp, _sm_raw_stamp)
  {%- endset -%}
  {{ return(body) }}
{% endmacro %}


{#- `raw` beside its partition's row of `latest`: days compare in the raw column's type,
    accounts as text (query_runs holds them as text, some data sources' ids are numbers). -#}
{% macro _current_join_condition(partition) %}
  {%- set conditions = [] -%}
  {%- if 'day' in partition -%}
    {%- do conditions.append('raw.' ~ adapter.quote(partition.day.name) ~ ' = latest._sm_day') -%}
  {%- endif -%}
  {%- if 'account' in partition -%}
    {%- do conditions.append('cast(raw.' ~ adapter.quote(partition.account.name) ~ ' as varchar) = latest._sm_account') -%}
  {%- endif -%}
  {{ return((conditions | join(' and ')) if conditions else '1 = 1') }}
{% endmacro %}


{#- Per partition (day and/or account) that a successful run of `stream` read, the stamp
    of the latest such run; one row when the partition is empty (full table, summed). -#}
{% macro _current_latest_runs(run_log, stream, partition, stamp_column) %}
  {%- set runs = run_log.relation -%}
  {%- set selected = [] -%}
  {%- set expansions = [] -%}
  {%- set conditions = [
      "runs.stream = '" ~ (stream | replace("'", "''")) ~ "'",
      "runs.status = 'SUCCESS'",
      'runs.extracted_at is not null',
      "coalesce(runs.reason, '') <> 'reconciliation'",
  ] -%}
  {%- if 'day' in partition -%}
    {%- do conditions.append('runs.start_date is not null and runs.end_date is not null') -%}
    {%- do expansions.append('cross join lateral (select ' ~ current_days_between('runs.start_date', 'runs.end_date') ~ ' as _sm_day) as days') -%}
    {%- do selected.append('cast(cast(days._sm_day as date) as ' ~ partition.day.data_type ~ ') as _sm_day') -%}
  {%- endif -%}
  {%- if 'account' in partition -%}
    {%- do conditions.append('runs.accounts is not null') -%}
    {%- do expansions.append('cross join lateral (select ' ~ current_array_elements('runs.accounts', run_log.columns['accounts'].dtype) ~ ' as _sm_account) as accounts') -%}
    {%- do selected.append('cast(accounts._sm_account as varchar) as _sm_account') -%}
  {%- endif -%}
  {%- set body -%}
        select {{ (selected + ['cast(max(runs.extracted_at) as ' ~ stamp_column.data_type ~ ') as _sm_run_stamp']) | join(', ') }}
        from {{ runs.include(database=false) }} as runs
        {{ expansions | join('\n        ') }}
        where {{ conditions | join('\n          and ') }}
        {%- if selected %}
        group by {{ range(1, (selected | length) + 1) | join(', ') }}
        {%- endif %}
  {%- endset -%}
  {{ return(body) }}
{% endmacro %}


{#- Replace the view in place while the old columns lead the new ones (columns are only
    ever added at the end), so views built on top survive; otherwise drop and create. -#}
{% macro _current_replace_view(source, view_name, columns, body) %}
  {%- set view = api.Relation.create(database=source.database, schema=source.schema, identifier=view_name, type='view').include(database=false) -%}
  {%- set existing = adapter.get_relation(database=source.database, schema=source.schema, identifier=view_name) -%}
  {%- if existing is not none and not existing.is_view -%}
    {{ return('error: ' ~ existing ~ ' exists and is not a view: not replaced') }}
  {%- endif -%}
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


{#- One row per day from `start` to `end` (dates, or ISO date strings: target-duckdb keeps
    `format: date` as text), as a set-returning expression. -#}
{% macro current_days_between(start, end) %}
  {{- return(adapter.dispatch('current_days_between')(start, end)) -}}
{% endmacro %}

{% macro default__current_days_between(start, end) -%}
generate_series(cast({{ start }} as timestamp), cast({{ end }} as timestamp), interval '1 day')
{%- endmacro %}

{% macro duckdb__current_days_between(start, end) -%}
unnest(generate_series(cast({{ start }} as timestamp), cast({{ end }} as timestamp), interval 1 day))
{%- endmacro %}


{#- One row per element of the array column `column` of type `dtype`, as a set-returning
    expression: target-postgres stores a string array as text[], target-duckdb as JSON. -#}
{% macro current_array_elements(column, dtype) %}
  {{- return(adapter.dispatch('current_array_elements')(column, dtype)) -}}
{% endmacro %}

{% macro default__current_array_elements(column, dtype) -%}
  {%- if 'json' in (dtype | lower) -%}
jsonb_array_elements_text(cast({{ column }} as jsonb))
  {%- else -%}
unnest({{ column }})
  {%- endif -%}
{%- endmacro %}

{% macro duckdb__current_array_elements(column, dtype) -%}
  {%- if (dtype | lower).endswith('[]') -%}
unnest({{ column }})
  {%- else -%}
unnest(from_json({{ column }}, '["VARCHAR"]'))
  {%- endif -%}
{%- endmacro %}
