"""A stream's windows in this run: from a planned query to records and coverage.

A window's path: `reads` plans it (and lists the stream's accounts), the pool
(`scheduler`) submits it ahead, `stream_windows` takes it in order, `splitting` halves it
when it fails or is cut, `window_reader` pages through it, `window_rows` and
`row_memory` let each row out exactly once, and the window's accounts' coverage moves.
The run's shared parts (`sync_run`), failures and usage line live here too. Checks of
loaded windows (`check/`) plug in through `stream_windows.WindowChecks`, so this
package never imports them. May import `schema` and below.
"""
