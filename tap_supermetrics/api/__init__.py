"""Talking to Supermetrics: HTTP, a query's life, pages, pacing, licence answers.

The base stream (URL, Bearer auth, the `json` parameter, error mapping and retries),
one query's submit → poll → finish or fail (and what each status answer says), result
pages and offsets, the request budget, what each `LICENSE_*` answer means, and the
login's account lists. May import `settings`, `plan` and `core`.
"""
