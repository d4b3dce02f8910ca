"""What the streams of one sync share: the licence's queue, failures, usage, progress.

The SDK syncs streams one after another, each in its own object; what spans them lives
here: the licence's queue (`licence_queue`, `max_concurrent_queries` slots, a keeper
thread) and the pool that decides what goes to it and how far ahead (`scheduler`), the
run's shared parts (`sync_run`), failures that stop an account, a window or a stream but
not the run (`failures`), the usage line and progress lines. May import `schema` and
below; `read/` builds on it.
"""
