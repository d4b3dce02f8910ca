"""What a run reads, decided without any I/O.

Coverage (what is loaded, per account), the planner (config + coverage + as-of day →
the queries of a run, and why), refresh tiers, window sizing, and the run's row budget.
May import `core` only; never `requests`, the SDK or `api` (an import-linter contract
holds this), so every decision here is a pure function a test can call.
"""
