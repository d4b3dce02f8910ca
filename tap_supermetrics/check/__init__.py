"""Checks of what loaded: reconciliation against Supermetrics' own totals.

`reconcile` says what is compared and how (pure); `reconciler` sends a window's totals
query beside its data query and compares once the window is in. It implements
`read.window_checks.WindowChecks`. `totals` reads a totals query's rows, submitting
it again when its results expired. May import `read` and below.
"""
