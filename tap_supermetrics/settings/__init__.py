"""The settings: their JSON Schema, their checks, and each query's definition.

Everything here runs before the first request: the config schema the SDK publishes,
the checks JSON Schema cannot express, the configured days, per-query settings and
re-reads, and names that become tables. May import `plan` (tiers and re-reads are the
planner's words) and `core`.
"""
