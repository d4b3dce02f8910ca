"""A stream's windows in this run: from a planned query to records and coverage.

A window's path: `reads` plans it (and lists the stream's accounts), the pool
(`run/scheduler`) queues it for the licence, `stream_windows` takes it in order,
`splitting` halves it when it fails or is cut, `window_reader` pages through it,
`window_rows` and `row_memory` let each row out exactly once, `confirmations` asks again
for accounts the API may have left out, `failed_accounts` reports accounts that fail
alone, and `loaded_days` moves the window's accounts' coverage into the bookmark.
Checks of loaded windows (`check/`) plug in through `window_checks.WindowChecks`, so
this package never imports them. May import `run` and below.
"""
